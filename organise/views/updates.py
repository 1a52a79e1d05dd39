"""A petition's updates in the workspace (the host's): list them, post one with a preview,
correct, withdraw or restore one, and email one, once, to the signers who asked for updates
(petitions.services.updates)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from engage.markdown import render_markdown
from engage.query_params import parse_whole_number
from mailings.models import Sender
from organise.access import Need, workspace_view
from organise.views.common import render_workspace
from petitions.forms import PetitionUpdateForm
from petitions.models import PetitionUpdate
from petitions.services import updates as service


def _petition(workspace, slug):
    return get_object_or_404(workspace.petitions().select_related("organisation"), slug=slug)


def _update(petition, pk):
    return get_object_or_404(PetitionUpdate.objects.select_related("mailing"), petition=petition, pk=pk)


def _list_url(workspace, petition) -> str:
    return reverse("organise:petition_updates", kwargs={"org": workspace.organisation.slug, "slug": petition.slug})


def _preview(form) -> str:
    # Shown only when the form is valid: the same sanitiser as the public page.
    return render_markdown(form.cleaned_data["body"]) if form.is_valid() else ""


@require_http_methods(["GET", "HEAD"])
@workspace_view(Need.PUBLISH)
def update_list(request, workspace, slug):
    petition = _petition(workspace, slug)
    return render_workspace(
        request,
        workspace,
        "organise/updates/list.html",
        {
            "petition": petition,
            "updates": petition.updates.select_related("mailing", "created_by").order_by("-published_at", "-id"),
            "asked": service.updates_recipients(petition=petition).count(),
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@workspace_view(Need.PUBLISH)
def update_new(request, workspace, slug):
    petition = _petition(workspace, slug)
    form = PetitionUpdateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid() and "preview" not in request.POST:
            update = service.petition_update_publish(petition=petition, created_by=request.user, request_or_actor=request,
                                                     **form.cleaned_data)
            messages.success(request, _("The update is on the petition's page."))
            return redirect(
                "organise:petition_update", org=workspace.organisation.slug, slug=petition.slug, pk=update.pk
            )
        status = 200 if form.is_valid() else 400
    return render_workspace(
        request,
        workspace,
        "organise/updates/form.html",
        {
            "petition": petition,
            "form": form,
            "preview": _preview(form) if form.is_bound else "",
        },
        status=status,
    )


def _detail_page(request, workspace, petition, update, form, *, status=200, email_error=""):
    return render_workspace(
        request,
        workspace,
        "organise/updates/form.html",
        {
            "petition": petition,
            "update": update,
            "form": form,
            "preview": _preview(form) if form.is_bound else "",
            "asked": service.updates_recipients(petition=petition).count(),
            "has_sender": Sender.objects.filter(organisation_id=petition.organisation_id).exists(),
            "email_error": email_error,
        },
        status=status,
    )


def _initial_form(update) -> PetitionUpdateForm:
    return PetitionUpdateForm(initial={"kind": update.kind, "title": update.title, "body": update.body})


@require_http_methods(["GET", "HEAD", "POST"])
@workspace_view(Need.PUBLISH)
def update_detail(request, workspace, slug, pk):
    petition = _petition(workspace, slug)
    update = _update(petition, pk)
    if request.method != "POST":
        return _detail_page(request, workspace, petition, update, _initial_form(update))
    form = PetitionUpdateForm(request.POST)
    if form.is_valid() and "preview" not in request.POST:
        service.petition_update_edit(update=update, **form.cleaned_data)
        messages.success(request, _("The update is saved."))
        return redirect("organise:petition_update", org=workspace.organisation.slug, slug=petition.slug, pk=update.pk)
    return _detail_page(request, workspace, petition, update, form, status=200 if form.is_valid() else 400)


@require_POST
@workspace_view(Need.PUBLISH)
def update_withdraw(request, workspace, slug, pk):
    petition = _petition(workspace, slug)
    update = _update(petition, pk)
    if request.POST.get("restore"):
        service.petition_update_restore(update=update, request_or_actor=request)
        messages.success(request, _("The update is back on the petition's page."))
    else:
        service.petition_update_withdraw(update=update, request_or_actor=request)
        messages.success(request, _("The update is withdrawn: it is no longer on the petition's page."))
    return redirect(_list_url(workspace, petition))


@require_POST
@workspace_view(Need.PUBLISH)
def update_email(request, workspace, slug, pk):
    """Email the update to the number of people the organiser confirmed, once. Anything that
    stops it (already emailed, the number changed, no sender) is the update's page again with
    the reason, and nothing made."""
    petition = _petition(workspace, slug)
    update = _update(petition, pk)
    expected = parse_whole_number(request.POST.get("expected", ""))
    if expected is None:
        error = _("Confirm the number of people to email: it was missing or not a number.")
        return _detail_page(request, workspace, petition, update, _initial_form(update), status=400, email_error=error)
    try:
        mailing = service.petition_update_email(update=update, expected=expected, created_by=request.user,
                                                request_or_actor=request)
    except service.UpdateError as error:
        update.refresh_from_db()
        return _detail_page(
            request, workspace, petition, update, _initial_form(update), status=409, email_error=str(error)
        )
    messages.success(request, _("The update is being emailed."))
    return redirect("organise:mailing", org=workspace.organisation.slug, pk=mailing.pk)
