"""Who may see what in the organisers' workspace, decided here and nowhere else (docs/design.md,
"The workspace decides access in one place").

Every workspace page, export and workspace API goes through `workspace_view`: it logs the user
in, finds the organisation in the URL among theirs (any other is a 404, as if it did not exist),
and checks the page's `Need` against `Workspace.allows`. The querysets a page shows come from
the Workspace too (`petitions()`, `signatures()`, `supporters()` …), so a partner's page cannot
reach another organisation's rows by forgetting a filter.

The host's people see the coalition; a partner's people see their own organisation's slice:
the petitions it runs, co-sponsors or brought signatures to, the signatures through it, and the
supporters who currently opt in to hear from it. On top of that, each person's role in the
organisation (admin, organiser, viewer: docs/design.md, "Organiser accounts") narrows what they
may do, and a login that owes its second factor reaches no page until it has given it.
"""

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.urls import reverse_lazy

from engage.models import Organisation, OrganisationMember, Supporter
from engage.selectors import partner_opt_ins_current
from mailings.models import Mailing, Segment
from organise.auth import second_factor_redirect
from petitions.models import Cosponsorship, Petition, Signature, SignatureTally

LOGIN_URL = reverse_lazy("organise:login")


class Need(StrEnum):
    """What a page needs of the person looking at it."""

    FIGURES = "figures"  # counts and charts, no personal data
    PEOPLE = "people"  # supporters' names and addresses: search, a person's page, exports
    REVIEW = "review"  # release or invalidate held signatures
    MAIL = "mail"  # segments, messages, test sends, sending mailings
    PUBLISH = "publish"  # petition updates
    ERASE = "erase"  # erase a person, or download everything held about them (all organisations' data)
    MANAGE = "manage"  # the organisation's people, their roles and invitations, its keys
    AUDIT = "audit"  # the audit log of the coalition


Role = OrganisationMember.Role

# What each kind of organisation's people may do in its workspace. Partners see their slice of
# figures and people and manage their own people; mailing the coalition, reviewing signatures,
# publishing and the audit log are the host's.
_ALLOWED = {
    Organisation.Kind.HOST: frozenset(Need),
    Organisation.Kind.PARTNER: frozenset({Need.FIGURES, Need.PEOPLE, Need.MANAGE}),
}

# What each role may do, within what its organisation's kind allows: a viewer sees figures
# only; an organiser all the work but the organisation's people; an admin everything.
_ADMIN_ONLY = frozenset({Need.MANAGE, Need.AUDIT})
_ROLE_ALLOWS = {
    Role.ADMIN: frozenset(Need),
    Role.ORGANISER: frozenset(Need) - _ADMIN_ONLY,
    Role.VIEWER: frozenset({Need.FIGURES}),
}


def organisations_of(user) -> QuerySet[Organisation]:
    """The organisations whose workspace this user may open, by name: their own, or all for a superuser."""
    organisations = Organisation.objects.order_by("kind", "name")  # "host" sorts before "partner"
    if not user.is_authenticated or not user.is_active:
        return organisations.none()
    return organisations if user.is_superuser else organisations.filter(members=user)


@dataclass(frozen=True)
class Workspace:
    """One user working for one organisation, with their role there: what they may do and
    which rows they see. A superuser is an admin everywhere."""

    user: object
    organisation: Organisation
    role: str = Role.VIEWER

    @property
    def is_host(self) -> bool:
        return self.organisation.kind == Organisation.Kind.HOST

    def allows(self, need: Need) -> bool:
        return need in _ALLOWED.get(self.organisation.kind, frozenset()) and need in _ROLE_ALLOWS.get(self.role, frozenset())

    def require(self, need: Need) -> None:
        if not self.allows(need):
            raise PermissionDenied

    # --- the rows this workspace sees ----------------------------------------------------------

    def petitions(self) -> QuerySet[Petition]:
        """Host: every petition. Partner: those it runs, co-sponsors or brought confirmed
        signatures to, not its own drafts (the same rule as the partner dashboard had)."""
        if self.is_host:
            return Petition.objects.all()
        org = self.organisation
        return Petition.objects.filter(
            Q(organisation=org)
            | Q(pk__in=Cosponsorship.objects.filter(organisation=org).values("petition_id"))
            # From the tallies, one index probe per petition: the same test on the signatures
            # table costs a scan of every signature through the partner (bench/workspace.py).
            | Exists(SignatureTally.objects.filter(petition=OuterRef("pk"), partner_key=org.pk))
        ).exclude(status=Petition.Status.DRAFT, organisation=org)

    def signatures(self) -> QuerySet[Signature]:
        """Host: every signature. Partner: those through it, which on a petition it runs are
        those through no partner (its own page and its own embed)."""
        if self.is_host:
            return Signature.objects.all()
        org = self.organisation
        return Signature.objects.filter(Q(partner=org) | Q(petition__organisation=org, partner__isnull=True))

    def signature_partner(self) -> Organisation | None:
        """The partner whose slice the figures are, or None for the host's whole picture."""
        return None if self.is_host else self.organisation

    def supporters(self) -> QuerySet[Supporter]:
        """Host: everyone. Partner: the supporters whose latest consent to it is an opt-in,
        the same people its API key can read."""
        if self.is_host:
            return Supporter.objects.all()
        opted_in = partner_opt_ins_current(organisation=self.organisation).values("supporter_id")
        return Supporter.objects.filter(pk__in=opted_in)

    def mailings(self) -> QuerySet[Mailing]:
        return Mailing.objects.all() if self.allows(Need.MAIL) else Mailing.objects.none()

    def segments(self) -> QuerySet[Segment]:
        return Segment.objects.all() if self.allows(Need.MAIL) else Segment.objects.none()

    @cached_property
    def others(self) -> list[Organisation]:
        """The user's other workspaces, for the switcher."""
        return [o for o in organisations_of(self.user) if o.pk != self.organisation.pk]


def workspace_for(user, slug: str) -> Workspace:
    # The role comes in the same query as the organisation.
    role = OrganisationMember.objects.filter(organisation=OuterRef("pk"), user=user.pk).values("role")[:1]
    organisation = organisations_of(user).filter(slug=slug).annotate(member_role=Subquery(role)).first()
    if organisation is None:
        raise Http404
    return Workspace(user=user, organisation=organisation,
                     role=Role.ADMIN if user.is_superuser else organisation.member_role or Role.VIEWER)


def workspace_view(need: Need):
    """Decorate a view taking (request, workspace, …) and mounted under <slug:org>/: the user
    must be logged in (else the workspace login), past their second factor if they owe one
    (else its setup, or the login again), one of the organisation's people (else 404) and
    allowed `need` (else 403)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, org, *args, **kwargs):
            if (detour := second_factor_redirect(request)) is not None:
                return detour
            workspace = workspace_for(request.user, org)
            workspace.require(need)
            request.workspace = workspace
            return view(request, workspace, *args, **kwargs)

        return login_required(wrapped, login_url=LOGIN_URL)

    return decorator
