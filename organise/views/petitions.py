"""Petitions in the workspace."""

from django.views.decorators.http import require_GET

from organise.access import Need, workspace_view
from organise.views.common import render_workspace


@require_GET
@workspace_view(Need.FIGURES)
def petition_list(request, workspace):
    petitions = workspace.petitions().order_by("-created_at")
    return render_workspace(request, workspace, "organise/petitions/list.html", {"petitions": petitions})
