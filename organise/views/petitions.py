"""Petitions in the workspace."""

from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from organise.access import Need, workspace_view
from organise.views.common import render_workspace


@require_GET
@workspace_view(Need.FIGURES)
def petition_list(request, workspace):
    petitions = workspace.petitions().order_by("-created_at")
    return render_workspace(request, workspace, "organise/petitions/list.html", {"petitions": petitions})


@require_GET
@workspace_view(Need.FIGURES)
def petition_detail(request, workspace, slug):
    petition = get_object_or_404(workspace.petitions(), slug=slug)
    return render_workspace(request, workspace, "organise/petitions/detail.html", {"petition": petition})
