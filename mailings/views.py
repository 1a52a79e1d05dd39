"""The development outbox: in DEBUG only, a page listing the emails written under var/mail/."""

import email
import email.policy
import re
from pathlib import Path

from django.conf import settings
from django.http import Http404
from django.shortcuts import render

_LINK = re.compile(r"https?://[^\s<>\"']+")


def _read(path: Path) -> dict:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text_part = message.get_body(preferencelist=("plain",))
    text = text_part.get_content() if text_part else ""
    return {
        "name": path.name,
        "subject": message["Subject"],
        "to": message["To"],
        "date": message["Date"],
        "text": text,
        "links": list(dict.fromkeys(_LINK.findall(text))),
    }


def outbox(request):
    if not settings.DEBUG:
        raise Http404
    outbox_dir = Path(settings.MAIL_OUTBOX_DIR)
    paths = sorted(outbox_dir.glob("*.eml"), reverse=True)[:100] if outbox_dir.exists() else []
    return render(request, "mailings/outbox.html", {"messages_": [_read(p) for p in paths], "outbox_dir": outbox_dir})
