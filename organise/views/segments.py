"""Segments in the workspace."""

from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from organise.access import Need, workspace_view
from organise.views.common import render_workspace


@require_GET
@workspace_view(Need.MAIL)
def segment_list(request, workspace):
    segments = workspace.segments().order_by("name")
    return render_workspace(request, workspace, "organise/segments/list.html", {"segments": segments})


@require_GET
@workspace_view(Need.MAIL)
def segment_detail(request, workspace, pk):
    segment = get_object_or_404(workspace.segments(), pk=pk)
    return render_workspace(request, workspace, "organise/segments/detail.html", {"segment": segment})
