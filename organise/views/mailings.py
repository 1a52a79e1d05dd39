"""Mailings in the workspace."""

from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from organise.access import Need, workspace_view
from organise.views.common import render_workspace


@require_GET
@workspace_view(Need.MAIL)
def mailing_list(request, workspace):
    mailings = workspace.mailings().select_related("segment", "mailing_list").order_by("-created_at")
    return render_workspace(request, workspace, "organise/mailings/list.html", {"mailings": mailings})


@require_GET
@workspace_view(Need.MAIL)
def mailing_detail(request, workspace, pk):
    mailing = get_object_or_404(workspace.mailings(), pk=pk)
    return render_workspace(request, workspace, "organise/mailings/detail.html", {"mailing": mailing})
