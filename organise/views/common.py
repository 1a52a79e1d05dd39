"""What every workspace page shares: the workspace and its navigation in the context."""

from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from organise.access import Need, Workspace

# The workspace's sections, in menu order, each shown to those allowed its need.
_SECTIONS = [
    ("organise:petitions", _("Petitions"), Need.FIGURES),
    ("organise:mailings", _("Mailings"), Need.MAIL),
    ("organise:segments", _("Segments"), Need.MAIL),
    ("organise:supporters", _("Supporters"), Need.PEOPLE),
    ("organise:held", _("Held signatures"), Need.REVIEW),
    ("organise:people", _("People"), Need.MANAGE),
    ("organise:audit", _("Audit log"), Need.AUDIT),
]


def workspace_nav(request, workspace: Workspace) -> list[dict]:
    items = []
    for url_name, label, need in _SECTIONS:
        if not workspace.allows(need):
            continue
        url = reverse(url_name, kwargs={"org": workspace.organisation.slug})
        items.append({"url": url, "label": label, "current": request.path.startswith(url)})
    return items


def render_workspace(request, workspace: Workspace, template: str, context: dict | None = None, **kwargs):
    context = {"workspace": workspace, "workspace_nav": workspace_nav(request, workspace), **(context or {})}
    return render(request, template, context, **kwargs)
