"""The default email backend: one .eml file per message under MAIL_OUTBOX_DIR (var/mail/),
so a newcomer can read every email Muster sends without an ESP."""

import threading
import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


class OutboxEmailBackend(BaseEmailBackend):
    _lock = threading.Lock()

    def send_messages(self, email_messages):
        outbox = Path(settings.MAIL_OUTBOX_DIR)
        outbox.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            name = f"{timezone.now():%Y%m%d-%H%M%S-%f}-{uuid.uuid4().hex[:8]}.eml"
            with self._lock:
                (outbox / name).write_bytes(message.message().as_bytes())
            message.anymail_status = None
            sent += 1
        return sent
