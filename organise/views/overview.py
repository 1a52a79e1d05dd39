"""The workspace's front page."""

from django.views.decorators.http import require_GET

from organise.access import Need, workspace_view
from organise.views.common import render_workspace


@require_GET
@workspace_view(Need.FIGURES)
def overview(request, workspace):
    petitions = workspace.petitions().filter(status="open").order_by("-created_at")
    return render_workspace(request, workspace, "organise/overview.html", {"petitions": petitions})
