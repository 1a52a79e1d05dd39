"""Segments in the workspace."""

from django.views.decorators.http import require_GET

from organise.access import Need, workspace_view
from organise.views.common import render_workspace


@require_GET
@workspace_view(Need.MAIL)
def segment_list(request, workspace):
    segments = workspace.segments().order_by("name")
    return render_workspace(request, workspace, "organise/segments/list.html", {"segments": segments})
