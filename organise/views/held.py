"""Held signatures awaiting review."""

from django.views.decorators.http import require_GET

from organise.access import Need, workspace_view
from organise.views.common import render_workspace
from petitions.models import Signature


@require_GET
@workspace_view(Need.REVIEW)
def held_list(request, workspace):
    held = workspace.signatures().filter(status=Signature.Status.HELD).select_related("petition").order_by("created_at")[:100]
    return render_workspace(request, workspace, "organise/held/list.html", {"held": held})
