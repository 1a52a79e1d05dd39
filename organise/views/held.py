"""Held signatures awaiting review: the fraud signals beside each, and release or invalidate in bulk.

A signature is held (rate limit, honeypot) stored, sent nothing and not counted until an
organiser decides (docs/design.md, "One signature per supporter per petition"). Releasing and
invalidating go through the same services as the admin's actions (petitions.services.signing),
so a release here sends the same confirmation email and counts the same way.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from engage.normalise import email_fold_aliases
from engage.query_params import parse_whole_number
from engage.selectors import supporters_folding_to
from organise.access import Need, workspace_view
from organise.views.common import render_workspace
from petitions.models import Signature
from petitions.services.signing import signatures_invalidate, signatures_release

PAGE_SIZE = 100
SELECTION_MAX = 1000  # more than a page can show; a bigger POST is not from this page


class BadReview(Exception):
    pass


def _bad(request, workspace, message: str, *, status: int = 400):
    return render_workspace(request, workspace, "organise/held/error.html", {"error": message}, status=status)


def _petition_filter(workspace, slug: str):
    """The petition a `petition` parameter names, None for none, or BadReview."""
    if not slug:
        return None
    petition = workspace.petitions().filter(slug=slug).first()
    if petition is None:
        raise BadReview(_("There is no petition “%(slug)s” here.") % {"slug": slug[:100]})
    return petition


def _gap_text(gap: timedelta) -> str:
    # Bots sign seconds apart, so seconds matter here, which timesince leaves out.
    seconds = int(gap.total_seconds())
    if seconds < 120:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    if seconds < 2 * 3600:
        return ngettext("%(count)d minute", "%(count)d minutes", seconds // 60) % {"count": seconds // 60}
    if seconds < 2 * 86400:
        return ngettext("%(count)d hour", "%(count)d hours", seconds // 3600) % {"count": seconds // 3600}
    return ngettext("%(count)d day", "%(count)d days", seconds // 86400) % {"count": seconds // 86400}


def _signals(held: list[Signature]) -> dict[int, dict]:
    """Per held signature: how many signatures of its petition share its IP hash, the gap to the
    previous one from that IP hash on the petition, the address's domain, and the folded address
    with how many others fold to it. One query for the IP hashes, one for the folded addresses."""
    pairs = {(s.petition_id, s.ip_hash) for s in held if s.ip_hash}
    same_ip: dict[tuple[int, str], list[tuple]] = {}
    if pairs:
        rows = Signature.objects.filter(
            petition_id__in={p for p, _ in pairs}, ip_hash__in={h for _, h in pairs}
        ).values_list("petition_id", "ip_hash", "created_at", "pk")
        for petition_id, ip_hash, created_at, pk in rows:
            if (petition_id, ip_hash) in pairs:
                same_ip.setdefault((petition_id, ip_hash), []).append((created_at, pk))
    neighbours = _alias_neighbours(held)
    signals = {}
    for signature in held:
        shared = sorted(same_ip.get((signature.petition_id, signature.ip_hash), []))
        earlier = [moment for moment, pk in shared if (moment, pk) < (signature.created_at, signature.pk)]
        folded, others = neighbours.get(signature.pk, ("", 0))
        email = signature.supporter.email if signature.supporter_id else ""
        signals[signature.pk] = {
            "ip_others": max(len(shared) - 1, 0),
            "gap": signature.created_at - earlier[-1] if earlier else None,
            "gap_text": _gap_text(signature.created_at - earlier[-1]) if earlier else "",
            "domain": email.rpartition("@")[2],
            "folded": folded,
            "folded_others": others,
        }
    return signals


def _alias_neighbours(held: list[Signature]) -> dict[int, tuple[str, int]]:
    """As petitions.selectors.signatures_alias_neighbours ({signature id: (folded address, how
    many other signatures of its petition fold to it)}), but found from the addresses' side:
    the supporters folding to these mailboxes through the search index, then their signatures
    of these petitions through the unique (petition, supporter) index. The petitions' selector
    matches a pattern per held signature against every signature of the petition, which takes
    minutes on a petition of a million (tests/organise/test_held_review.py checks the two agree)."""
    folded = {s.pk: email_fold_aliases(s.supporter.email) for s in held if s.supporter_id is not None}
    owners = supporters_folding_to(set(folded.values()))
    shared: dict[tuple[int, str], set[int]] = {}
    if owners:
        rows = Signature.objects.filter(
            petition_id__in={s.petition_id for s in held}, supporter_id__in=list(owners)
        ).values_list("pk", "petition_id", "supporter_id")
        for pk, petition_id, supporter_id in rows:
            shared.setdefault((petition_id, owners[supporter_id]), set()).add(pk)
    return {
        s.pk: (folded[s.pk], len(shared.get((s.petition_id, folded[s.pk]), set()) - {s.pk}))
        for s in held
        if s.pk in folded
    }


@require_GET
@workspace_view(Need.REVIEW)
def held_list(request, workspace):
    held = workspace.signatures().filter(status=Signature.Status.HELD)
    try:
        petition = _petition_filter(workspace, request.GET.get("petition", ""))
    except BadReview as error:
        return _bad(request, workspace, str(error))
    page_number = parse_whole_number(request.GET.get("page", "1"), minimum=1)
    if page_number is None:
        return _bad(request, workspace, _("The page number must be a whole number from 1."))
    counts = {
        row["petition_id"]: row["n"]
        for row in held.values("petition_id").annotate(n=Count("id")).order_by()
    }
    petitions = sorted(workspace.petitions().filter(pk__in=list(counts)), key=lambda p: p.title.lower())
    if petition is not None:
        held = held.filter(petition=petition)
    rows = held.select_related("petition", "supporter").order_by("petition__title", "petition_id", "created_at", "id")
    page = Paginator(rows, PAGE_SIZE).get_page(page_number)
    signatures = list(page.object_list)
    signals = _signals(signatures)
    context = {
        "petition": petition,
        "petitions": [(p, counts[p.pk]) for p in petitions],
        "total": sum(counts.values()),
        "page": page,
        "rows": [(s, signals[s.pk]) for s in signatures],
    }
    return render_workspace(request, workspace, "organise/held/list.html", context)


def _selection(workspace, post, petition) -> list[int]:
    """The chosen signatures' ids, each a held signature here (of `petition`, if one is given),
    or BadReview saying what is wrong; nothing is changed then."""
    values = post.getlist("signature")
    if not values:
        raise BadReview(_("Choose at least one signature: tick the boxes beside them."))
    if len(values) > SELECTION_MAX:
        raise BadReview(_("Choose at most %(limit)d signatures at a time.") % {"limit": SELECTION_MAX})
    ids = [parse_whole_number(value, minimum=1) for value in values]
    if None in ids:
        raise BadReview(_("The choice was not understood: choose signatures from the list."))
    ids = sorted(set(ids))
    held = workspace.signatures().filter(pk__in=ids, status=Signature.Status.HELD)
    if petition is not None:
        held = held.filter(petition=petition)
    found = set(held.values_list("pk", flat=True))
    missing = len(ids) - len(found)
    if missing:
        if petition is not None:
            message = ngettext(
                "%(count)d of the chosen signatures is not held for review on this petition (it may have been released "
                "or invalidated already). Nothing was changed.",
                "%(count)d of the chosen signatures are not held for review on this petition (they may have been "
                "released or invalidated already). Nothing was changed.",
                missing,
            )
        else:
            message = ngettext(
                "%(count)d of the chosen signatures is not held for review (it may have been released or invalidated "
                "already). Nothing was changed.",
                "%(count)d of the chosen signatures are not held for review (they may have been released or "
                "invalidated already). Nothing was changed.",
                missing,
            )
        raise BadReview(message % {"count": missing})
    return ids


@require_POST
@workspace_view(Need.REVIEW)
def held_review(request, workspace):
    """Release or invalidate the ticked signatures, all in one transaction per action."""
    action = request.POST.get("action", "")
    try:
        if action not in ("release", "invalidate"):
            raise BadReview(_("Choose to release or to invalidate the signatures."))
        petition = _petition_filter(workspace, request.POST.get("petition", ""))
        ids = _selection(workspace, request.POST, petition)
    except BadReview as error:
        return _bad(request, workspace, str(error))
    if action == "release":
        # The admin's own service: held -> pending under a row lock, then each is sent its
        # confirmation email once the transaction commits; it counts once confirmed.
        done = signatures_release(signature_ids=ids, request_or_actor=request, organisation=workspace.organisation)
        messages.success(
            request,
            ngettext(
                "%(count)d held signature released: its confirmation email is on its way, and it counts once confirmed.",
                "%(count)d held signatures released: their confirmation emails are on their way, and each counts once "
                "confirmed.",
                done,
            ) % {"count": done},
        )
    else:
        with transaction.atomic(durable=True):
            # Lock them as held, so one released a moment ago is not invalidated by this.
            locked = list(
                Signature.objects.select_for_update().filter(pk__in=ids, status=Signature.Status.HELD).values_list("pk", flat=True)
            )
            done = signatures_invalidate(signature_ids=locked, request_or_actor=request,
                                         organisation=workspace.organisation)
        messages.success(
            request,
            ngettext("%(count)d signature invalidated: it will never count.",
                     "%(count)d signatures invalidated: they will never count.", done) % {"count": done},
        )
    if done < len(ids):
        left = len(ids) - done
        messages.warning(
            request,
            ngettext("%(count)d was no longer held when the change was made, and was left as it was.",
                     "%(count)d were no longer held when the change was made, and were left as they were.", left)
            % {"count": left},
        )
    url = reverse("organise:held", kwargs={"org": workspace.organisation.slug})
    return redirect(f"{url}?petition={petition.slug}" if petition is not None else url)
