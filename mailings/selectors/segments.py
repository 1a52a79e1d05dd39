"""Segments: conditions combined with all / any / not, built into one database query.

A definition is JSON:

    {"all": [ {"condition": "subscribed_to_list", "list": "news"},
              {"any": [ {"condition": "postcode", "prefix": "S"},
                        {"condition": "postcode", "prefix": "DN1"} ]},
              {"not": {"condition": "received_mailing", "mailing": 12}} ]}

Conditions about people, lists, consent and mailings are defined here. Apps above mailings
(petitions) contribute theirs through `condition_register` from their AppConfig.ready(), so
this module never imports them (docs/design.md, "Layers": imports point down). Whatever a segment says, the send
goes through mailings.selectors.recipients.recipients_eligible.
"""

import logging
import re
import unicodedata
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import StrIndex, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_countries import countries

from engage.models import MailingList, Organisation, Subscription, Supporter
from engage.query_params import BIGINT_MAX, parse_whole_number
from engage.sql import ids_q
from mailings.selectors.recipients import opted_in_q, recipients_eligible

logger = logging.getLogger(__name__)


class SegmentError(ValueError):
    """A definition that cannot be built; the message says what to fix."""


# --- Parameters: what the builder renders for each ----------------------------------------------

CHOICE, DATE, NUMBER, TEXT = "choice", "date", "number", "text"


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    group: str = ""  # an <optgroup> in the builder's menu


@dataclass(frozen=True)
class Param:
    """One parameter of a condition. `options` (for a choice) is called when the builder page
    is drawn, so the menus offer the lists, petitions, areas … that exist then; the value is
    checked again by the condition's build, which is what a stored or imported definition meets."""

    kind: str
    label: str
    options: Callable[[], list[Option]] | None = None
    required: bool = True
    minimum: int = 0
    maximum: int = BIGINT_MAX
    blank_label: str = ""  # an optional choice's "any …" entry

    def describe(self) -> dict:
        """As the builder's script reads it."""
        described = {"kind": self.kind, "label": str(self.label), "required": self.required}
        if self.kind == CHOICE:
            described["options"] = [
                {"value": o.value, "label": str(o.label), "group": str(o.group)} for o in (self.options() if self.options else [])
            ]
            described["blank_label"] = str(self.blank_label)
        if self.kind == NUMBER:
            described.update(minimum=self.minimum, maximum=self.maximum)
        return described


@dataclass(frozen=True)
class Condition:
    name: str
    label: str
    params: dict[str, str]  # parameter -> what to put there (the admin's help text)
    build: Callable[[dict], Q]
    fields: dict[str, Param] = field(default_factory=dict)  # parameter -> how the builder asks for it
    group: str = ""  # the builder's menu section

    def describe(self) -> dict:
        return {
            "name": self.name, "label": str(self.label), "group": str(self.group),
            "params": [{"key": key, **param.describe()} for key, param in self.fields.items()],
        }


_REGISTRY: dict[str, Condition] = {}


def condition_register(
    *, name: str, label: str, params: dict[str, "str | Param"], build: Callable[[dict], Q], group: str = ""
) -> None:
    """Add a condition. `build` gets the condition's JSON object and returns a Q on Supporter,
    raising SegmentError for bad parameters. A parameter given as a plain description is free
    text in the builder; a Param says its kind (a choice with its options, a date, a number)."""
    fields = {key: value if isinstance(value, Param) else Param(kind=TEXT, label=value) for key, value in params.items()}
    descriptions = {key: str(param.label) + ("" if param.required else " (optional)") for key, param in fields.items()}
    _REGISTRY[name] = Condition(name=name, label=label, params=descriptions, build=build, fields=fields, group=group)


def conditions() -> list[Condition]:
    return sorted(_REGISTRY.values(), key=lambda c: c.name)


def conditions_described() -> list[dict]:
    """Every condition with its parameters and their current options, for the builder (in menu
    order: by section, then label)."""
    return [c.describe() for c in sorted(_REGISTRY.values(), key=lambda c: (str(c.group), str(c.label)))]


# --- Parameter helpers, also used by the conditions other apps register -----------------------

_TEXT_MAX = 200


def _not_text(value: str) -> bool:
    # What the database cannot store or compare (NUL, lone surrogates) and no code contains.
    return any(unicodedata.category(char) in ("Cc", "Cs") for char in value)


def param_str(node: dict, key: str) -> str:
    value = node.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise SegmentError(
            _("Condition %(condition)r needs %(param)r.") % {"condition": node.get("condition"), "param": key}
        )
    text = str(value).strip()
    if len(text) > _TEXT_MAX or _not_text(text):
        raise SegmentError(_("%(param)r is not a value this condition can take.") % {"param": key})
    return text


def param_number(node: dict, key: str, *, minimum: int = 0, maximum: int = BIGINT_MAX) -> int:
    raw = param_str(node, key)
    number = parse_whole_number(raw, minimum=minimum, maximum=maximum)
    if number is None:
        raise SegmentError(
            _("%(param)r must be a whole number from %(minimum)d to %(maximum)d, not %(raw)r.")
            % {"param": key, "minimum": minimum, "maximum": maximum, "raw": raw}
        )
    return number


def param_date_range(node: dict, field: str) -> Q:
    """`from` and `to` (YYYY-MM-DD, both days included, either may be left out) on `field`."""
    q = Q()
    bounds = {}
    for key in ("from", "to"):
        raw = node.get(key)
        if raw in (None, ""):
            continue
        try:
            bounds[key] = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            bounds[key] = None
        # The day after `to` must exist, and a year before 1900 is a typing slip.
        if bounds[key] is None or not 1900 <= bounds[key].year <= 9998:
            raise SegmentError(_("%(key)r must be a date like 2025-03-31, not %(raw)r.") % {"key": key, "raw": raw})
    if not bounds:
        raise SegmentError(
            _("Condition %(condition)r needs 'from' or 'to' (YYYY-MM-DD).") % {"condition": node.get("condition")}
        )
    if "from" in bounds and "to" in bounds and bounds["from"] > bounds["to"]:
        raise SegmentError(_("'from' must not be after 'to'."))
    tz = timezone.get_current_timezone()
    if "from" in bounds:
        q &= Q(**{f"{field}__gte": datetime.combine(bounds["from"], time.min, tzinfo=tz)})
    if "to" in bounds:
        q &= Q(**{f"{field}__lt": datetime.combine(bounds["to"] + timedelta(days=1), time.min, tzinfo=tz)})
    return q


def param_organisation(node: dict, key: str = "organisation") -> Organisation:
    slug = param_str(node, key)
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        raise SegmentError(_("No organisation with the slug %(slug)r.") % {"slug": slug})
    return organisation


# --- Options the menus offer ----------------------------------------------------------------

# What the supporters table holds changes slowly; reading it is a scan of every row (a second
# on a million), so the menus' postcode and country options are kept this long.
OPTIONS_CACHE_SECONDS = 600
_PLACES_KEY = "segments:options:places"


def options_cached(key: str, compute: Callable[[], list]) -> list:
    """compute(), kept in the cache for OPTIONS_CACHE_SECONDS; computed afresh if the cache is down."""
    try:
        value = cache.get(key)
    except Exception:
        logger.warning("segment options cache unavailable", exc_info=True)
        return compute()
    if value is None:
        value = compute()
        try:
            cache.set(key, value, OPTIONS_CACHE_SECONDS)
        except Exception:
            logger.warning("segment options cache unavailable", exc_info=True)
    return value


_AREA = re.compile(r"^[A-Z]{1,2}$")
_DISTRICT = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$")
_AREA_OF_DISTRICT = re.compile(r"^[A-Z]{1,2}")


def _places() -> dict:
    """{"countries": [...], "districts": [...]}: the countries supporters live in and the UK
    postcode districts among them, in one grouped pass over the table."""
    # Stored UK postcodes are "S70 2AB"; others (and odd rows) have no district.
    district = Case(
        When(country="GB", postcode__contains=" ", then=Substr("postcode", 1, StrIndex("postcode", Value(" ")) - 1)),
        default=Value(""),
    )
    rows = Supporter.objects.annotate(district=district).values_list("country", "district").distinct()
    found_countries, found_districts = set(), set()
    for country, value in rows:
        found_countries.add(str(country))
        if str(country) == "GB" and value and _DISTRICT.match(value):
            found_districts.add(value)
    return {"countries": sorted(found_countries), "districts": sorted(found_districts, key=_district_order)}


def _district_order(district: str) -> tuple:
    area = _AREA_OF_DISTRICT.match(district).group(0)
    number = re.match(r"[0-9]+", district[len(area):])
    return area, int(number.group(0)) if number else 0, district


def places() -> dict:
    return options_cached(_PLACES_KEY, _places)


def postcode_options() -> list[Option]:
    districts = places()["districts"]
    areas = sorted({_AREA_OF_DISTRICT.match(d).group(0) for d in districts})
    area_group, district_group = _("Postcode areas"), _("Postcode districts")
    return [Option(a, _("%(area)s (area)") % {"area": a}, area_group) for a in areas] + [
        Option(d, d, district_group) for d in districts
    ]


def country_options() -> list[Option]:
    return sorted((Option(code, countries.name(code) or code) for code in places()["countries"]), key=lambda o: o.label)


def list_options() -> list[Option]:
    return [
        Option(slug, name, organisation)
        for slug, name, organisation in MailingList.objects.order_by("organisation__name", "name").values_list(
            "slug", "name", "organisation__name"
        )
    ]


def organisation_options() -> list[Option]:
    return [Option(slug, name) for slug, name in Organisation.objects.order_by("kind", "name").values_list("slug", "name")]


MAILING_OPTIONS = 200  # the most recent, newest first


def mailing_options() -> list[Option]:
    from mailings.models import Mailing

    rows = (
        Mailing.objects.exclude(status=Mailing.Status.DRAFT)
        .order_by("-created_at", "-id")
        .values_list("pk", "name", "started_at", "created_at")[:MAILING_OPTIONS]
    )
    return [
        Option(str(pk), f"{name} ({timezone.localtime(started or created):%d %b %Y})") for pk, name, started, created in rows
    ]


# --- Built-in conditions -------------------------------------------------------------------


def _subscribed_to_list(node: dict) -> Q:
    slug = param_str(node, "list")
    mailing_list = MailingList.objects.filter(slug=slug).first()
    if mailing_list is None:
        raise SegmentError(_("No list with the slug %(slug)r.") % {"slug": slug})
    return Q(
        Exists(
            Subscription.objects.filter(
                supporter=OuterRef("pk"), mailing_list=mailing_list, status=Subscription.Status.SUBSCRIBED
            )
        )
    )


def _consented_to(node: dict) -> Q:
    # The same rule as the send's (recipients_eligible), looked up per supporter, which also
    # reads right under "not": no consent row at all is "not opted in" either way.
    return opted_in_q(organisation=param_organisation(node), many=False)


def _postcode(node: dict) -> Q:
    prefix = re.sub(r"\s+", "", param_str(node, "prefix")).upper()
    if _AREA.match(prefix):
        # "S" is Sheffield, not every postcode starting with S (SW, SE…): letters then a digit.
        return Q(country="GB", postcode__regex=rf"^{prefix}[0-9]")
    if _DISTRICT.match(prefix):
        # Postcodes are stored "S70 2AB": the district is everything before the space.
        return Q(country="GB", postcode__startswith=f"{prefix} ")
    raise SegmentError(_("%(prefix)r is not a postcode area (S) or district (S70).") % {"prefix": prefix})


def _country(node: dict) -> Q:
    code = param_str(node, "country").upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise SegmentError(_("Country must be a two-letter code like GB, not %(code)r.") % {"code": code})
    return Q(country=code)


def _joined_between(node: dict) -> Q:
    return param_date_range(node, "created_at")


def _mailing_id(node: dict) -> int:
    from mailings.models import Mailing

    raw = param_str(node, "mailing")
    mailing_id = parse_whole_number(raw, minimum=1)
    if mailing_id is None:
        raise SegmentError(_("'mailing' must be a mailing's number, not %(raw)r.") % {"raw": raw})
    if not Mailing.objects.filter(pk=mailing_id).exists():
        raise SegmentError(_("No mailing number %(id)d.") % {"id": mailing_id})
    return mailing_id


def _deliveries(**filters) -> Q:
    from mailings.models import Delivery

    return Q(Exists(Delivery.objects.filter(supporter=OuterRef("pk"), **filters)))


def _received_mailing(node: dict) -> Q:
    from mailings.models import Delivery

    return _deliveries(mailing_id=_mailing_id(node), status=Delivery.Status.SENT)


def _opened_mailing(node: dict) -> Q:
    return _deliveries(mailing_id=_mailing_id(node), opened_at__isnull=False)


def _clicked_mailing(node: dict) -> Q:
    return _deliveries(mailing_id=_mailing_id(node), clicked_at__isnull=False)


RECENT_DAYS_MAX = 3650
_RECENT_ACTIONS = {"received": "sent_at", "opened": "opened_at", "clicked": "clicked_at"}


def _mailing_recent(node: dict) -> Q:
    from mailings.models import Delivery

    action = param_str(node, "action")
    if action not in _RECENT_ACTIONS:
        raise SegmentError(_("'action' must be received, opened or clicked, not %(action)r.") % {"action": action})
    days = param_number(node, "days", minimum=1, maximum=RECENT_DAYS_MAX)
    since = timezone.now() - timedelta(days=days)
    filters = {f"{_RECENT_ACTIONS[action]}__gte": since}
    if action == "received":
        filters["status"] = Delivery.Status.SENT
    return _deliveries(**filters)


def _recent_action_options() -> list[Option]:
    return [Option("received", _("received")), Option("opened", _("opened")), Option("clicked", _("clicked"))]


PEOPLE, SIGNATURES, MAILINGS = gettext_lazy("People"), gettext_lazy("Signatures"), gettext_lazy("Mailings")

condition_register(
    name="subscribed_to_list", label=gettext_lazy("Subscribed to a list"), group=PEOPLE,
    params={"list": Param(kind=CHOICE, label=gettext_lazy("List"), options=list_options)}, build=_subscribed_to_list,
)
condition_register(
    name="consented_to", label=gettext_lazy("Opted in to hear from an organisation"), group=PEOPLE,
    params={"organisation": Param(kind=CHOICE, label=gettext_lazy("Organisation"), options=organisation_options)},
    build=_consented_to,
)
condition_register(
    name="postcode", label=gettext_lazy("Postcode area or district"), group=PEOPLE,
    params={"prefix": Param(kind=CHOICE, label=gettext_lazy("Area (S) or district (S70)"), options=postcode_options)},
    build=_postcode,
)
condition_register(
    name="country", label=gettext_lazy("Country"), group=PEOPLE,
    params={"country": Param(kind=CHOICE, label=gettext_lazy("Country"), options=country_options)}, build=_country,
)
condition_register(
    name="joined_between", label=gettext_lazy("Joined between dates"), group=PEOPLE,
    params={
        "from": Param(kind=DATE, label=gettext_lazy("From"), required=False),
        "to": Param(kind=DATE, label=gettext_lazy("To"), required=False),
    },
    build=_joined_between,
)
_MAILING = Param(kind=CHOICE, label=gettext_lazy("Mailing"), options=mailing_options)
condition_register(
    name="received_mailing", label=gettext_lazy("Was sent a mailing"), group=MAILINGS,
    params={"mailing": _MAILING}, build=_received_mailing,
)
condition_register(
    name="opened_mailing", label=gettext_lazy("Opened a mailing"), group=MAILINGS,
    params={"mailing": _MAILING}, build=_opened_mailing,
)
condition_register(
    name="clicked_mailing", label=gettext_lazy("Clicked a link in a mailing"), group=MAILINGS,
    params={"mailing": _MAILING}, build=_clicked_mailing,
)
condition_register(
    name="mailing_recent", label=gettext_lazy("Received, opened or clicked any mailing lately"), group=MAILINGS,
    params={
        "action": Param(kind=CHOICE, label=gettext_lazy("What they did"), options=_recent_action_options),
        "days": Param(kind=NUMBER, label=gettext_lazy("In the last (days)"), minimum=1, maximum=RECENT_DAYS_MAX),
    },
    build=_mailing_recent,
)


# --- Building -----------------------------------------------------------------------------

_MAX_DEPTH = 8
# No one's segment has more conditions than this; far more would be a query too big to plan.
MAX_PARTS = 200


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _condition_check(condition: Condition, node: dict) -> None:
    """Each required parameter is there, and no value is a list or an object."""
    for key, param in condition.fields.items():
        value = node.get(key)
        if value is None or value == "":
            if param.required:
                raise SegmentError(
                    _("“%(condition)s” needs its %(param)s chosen.")
                    % {"condition": condition.label, "param": str(param.label).lower()}
                )
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise SegmentError(
                _("“%(condition)s”: %(param)s must be text or a number, not %(value)s.")
                % {"condition": condition.label, "param": str(param.label).lower(), "value": _short(value)}
            )


def segment_q(definition, *, depth: int = 0, _parts: list | None = None) -> Q:
    """The Q on Supporter a definition means; SegmentError says what is wrong with it."""
    parts_seen = [0] if _parts is None else _parts
    parts_seen[0] += 1
    if parts_seen[0] > MAX_PARTS:
        raise SegmentError(_("A segment can have at most %(max)d conditions and groups.") % {"max": MAX_PARTS})
    if depth > _MAX_DEPTH:
        raise SegmentError(_("The segment is nested too deeply."))
    if not isinstance(definition, dict) or not definition:
        raise SegmentError(
            _('Each part must be an object: {"all": […]}, {"any": […]}, {"not": {…}} or {"condition": …}.')
        )
    if "condition" in definition:
        name = definition["condition"]
        condition = _REGISTRY.get(name) if isinstance(name, str) else None
        if condition is None:
            known = ", ".join(sorted(_REGISTRY))
            raise SegmentError(_("Unknown condition %(name)s. Known: %(known)s.") % {"name": _short(name), "known": known})
        _condition_check(condition, definition)
        return condition.build(definition)
    if len(definition) != 1:
        raise SegmentError(_("Use exactly one of all, any, not or condition in %(part)s.") % {"part": _short(definition)})
    ((operator, operand),) = definition.items()
    if operator in ("all", "any"):
        if not isinstance(operand, list):
            raise SegmentError(_("%(operator)r takes a list of conditions.") % {"operator": operator})
        parts = [segment_q(part, depth=depth + 1, _parts=parts_seen) for part in operand]
        if not parts:
            if operator == "any":
                raise SegmentError(_("'any' needs at least one condition."))
            return Q()  # all of nothing: everyone
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if operator == "all" else combined | part
        if operator == "any" and len(parts) > 1:
            # Alternatives of EXISTS subqueries are a subplan per person, costed so high that
            # PostgreSQL plans the rest of the query around them (on a million supporters, a
            # nested loop over every signature of a petition: BENCHMARKS.md, "Segment live
            # count"). As a semi join on the person's own row, the group is asked last, of
            # those the other conditions leave. The same people either way.
            return Q(Exists(Supporter.objects.filter(combined, pk=OuterRef("pk"))))
        return combined
    if operator == "not":
        return ~segment_q(operand, depth=depth + 1, _parts=parts_seen)
    raise SegmentError(
        _("Unknown operator %(operator)s: use all, any, not or condition.") % {"operator": _short(operator)}
    )


def segment_supporters(definition) -> QuerySet[Supporter]:
    """Everyone the segment describes, before the exclusion rule."""
    return Supporter.objects.filter(segment_q(definition))


SAMPLE_SIZE = 10
# Up to this many matching people, the builder's count reads their ids once and checks just
# them against the recipient rule (index lookups per person, as for a claimed chunk); a bigger
# segment is counted as the snapshot counts it, one pass over the whole consent ledger
# (BENCHMARKS.md, "Segment live count"). SQLite takes fewer parameters in one statement.
SMALL_SEGMENT = {"postgresql": 50_000}
SMALL_SEGMENT_OTHER = 900


@contextmanager
def _interactive():
    """On PostgreSQL, for these queries only (until the transaction ends; the benchmark above):
    - no JIT: their planned cost (a subplan per person) sets it off, and compiling took a
      third of the time of a count that runs for well under a second;
    - random_page_cost as for data in memory (1.1, not a spinning disk's 4): the tables a
      campaign works on are, and at 4 PostgreSQL read the list's 600,000 subscriptions to
      check 14,000 people rather than look each up (0.5 s against 0.2 s)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL random_page_cost = 1.1")
        yield


def segment_figures(
    *, definition, organisation: Organisation | None = None, mailing_list: MailingList | None = None,
    sample_size: int = SAMPLE_SIZE,
) -> dict:
    """For the builder: {"matching", "eligible", "sample"}. `eligible` is how many of them this
    organisation may email on this list (None: as the organisation), through the send's own
    rule (recipients_eligible), or None without an organisation. Raises SegmentError."""
    supporters = segment_supporters(definition)
    small = SMALL_SEGMENT.get(connection.vendor, SMALL_SEGMENT_OTHER)
    columns = ("pk", "first_name", "last_name", "email", "postcode")
    with _interactive():
        ids = list(supporters.order_by().values_list("pk", flat=True)[: small + 1])
        if len(ids) <= small:
            matching = len(ids)
            chosen = Supporter.objects.filter(ids_q(Supporter, ids))
            eligible = (
                recipients_eligible(chosen, organisation=organisation, mailing_list=mailing_list, many=False).count()
                if organisation is not None else None
            )
            newest = sorted(ids, reverse=True)[:sample_size]
            rows = Supporter.objects.filter(pk__in=newest).order_by("-pk").values(*columns) if newest else []
        else:
            matching = supporters.count()
            eligible = (
                recipients_eligible(supporters, organisation=organisation, mailing_list=mailing_list, many=True).count()
                if organisation is not None else None
            )
            rows = supporters.order_by("-pk").values(*columns)[:sample_size]
        sample = [
            {"id": row["pk"], "name": f"{row['first_name']} {row['last_name']}".strip(), "email": row["email"],
             "postcode": row["postcode"]}
            for row in rows
        ]
    return {"matching": matching, "eligible": eligible, "sample": sample}
