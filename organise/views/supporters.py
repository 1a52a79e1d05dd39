"""Supporters in the workspace."""

from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from organise.access import Need, workspace_view
from organise.views.common import render_workspace


@require_GET
@workspace_view(Need.PEOPLE)
def supporter_list(request, workspace):
    supporters = workspace.supporters().order_by("-created_at")[:50]
    return render_workspace(request, workspace, "organise/supporters/list.html", {"supporters": supporters})


@require_GET
@workspace_view(Need.PEOPLE)
def supporter_detail(request, workspace, pk):
    supporter = get_object_or_404(workspace.supporters(), pk=pk)
    return render_workspace(request, workspace, "organise/supporters/detail.html", {"supporter": supporter})
