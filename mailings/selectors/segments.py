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

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from engage.models import MailingList, Organisation, Subscription, Supporter
from engage.query_params import parse_whole_number
from mailings.selectors.recipients import opted_in_q


class SegmentError(ValueError):
    """A definition that cannot be built; the message says what to fix."""


@dataclass(frozen=True)
class Condition:
    name: str
    label: str
    params: dict[str, str]  # parameter -> what to put there
    build: Callable[[dict], Q]


_REGISTRY: dict[str, Condition] = {}


def condition_register(*, name: str, label: str, params: dict[str, str], build: Callable[[dict], Q]) -> None:
    """Add a condition. `build` gets the condition's JSON object and returns a Q on Supporter,
    raising SegmentError for bad parameters."""
    _REGISTRY[name] = Condition(name=name, label=label, params=params, build=build)


def conditions() -> list[Condition]:
    return sorted(_REGISTRY.values(), key=lambda c: c.name)


# --- Parameter helpers, also used by the conditions other apps register -----------------------


def param_str(node: dict, key: str) -> str:
    value = node.get(key)
    if not isinstance(value, str | int) or not str(value).strip():
        raise SegmentError(f"Condition {node.get('condition')!r} needs {key!r}.")
    return str(value).strip()


def param_date_range(node: dict, field: str) -> Q:
    """`from` and `to` (YYYY-MM-DD, both days included, either may be left out) on `field`."""
    q = Q()
    bounds = {}
    for key in ("from", "to"):
        raw = node.get(key)
        if raw in (None, ""):
            continue
        try:
            bounds[key] = date.fromisoformat(str(raw))
        except ValueError:
            raise SegmentError(f"{key!r} must be a date like 2025-03-31, not {raw!r}.") from None
    if not bounds:
        raise SegmentError(f"Condition {node.get('condition')!r} needs 'from' or 'to' (YYYY-MM-DD).")
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
        raise SegmentError(f"No organisation with the slug {slug!r}.")
    return organisation


# --- Built-in conditions -------------------------------------------------------------------


def _subscribed_to_list(node: dict) -> Q:
    slug = param_str(node, "list")
    mailing_list = MailingList.objects.filter(slug=slug).first()
    if mailing_list is None:
        raise SegmentError(f"No list with the slug {slug!r}.")
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


_AREA = re.compile(r"^[A-Z]{1,2}$")
_DISTRICT = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$")


def _postcode(node: dict) -> Q:
    prefix = re.sub(r"\s+", "", param_str(node, "prefix")).upper()
    if _AREA.match(prefix):
        # "S" is Sheffield, not every postcode starting with S (SW, SE…): letters then a digit.
        return Q(country="GB", postcode__regex=rf"^{prefix}[0-9]")
    if _DISTRICT.match(prefix):
        # Postcodes are stored "S70 2AB": the district is everything before the space.
        return Q(country="GB", postcode__startswith=f"{prefix} ")
    raise SegmentError(f"{prefix!r} is not a postcode area (S) or district (S70).")


def _country(node: dict) -> Q:
    code = param_str(node, "country").upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise SegmentError(f"Country must be a two-letter code like GB, not {code!r}.")
    return Q(country=code)


def _joined_between(node: dict) -> Q:
    return param_date_range(node, "created_at")


def _received_mailing(node: dict) -> Q:
    from mailings.models import Delivery

    raw = param_str(node, "mailing")
    mailing_id = parse_whole_number(raw, minimum=1)
    if mailing_id is None:
        raise SegmentError(f"'mailing' must be a mailing's number, not {raw!r}.")
    return Q(Exists(Delivery.objects.filter(mailing_id=mailing_id, supporter=OuterRef("pk"), status=Delivery.Status.SENT)))


condition_register(name="subscribed_to_list", label="Subscribed to a list", params={"list": "list slug"}, build=_subscribed_to_list)
condition_register(
    name="consented_to", label="Opted in to hear from an organisation", params={"organisation": "organisation slug"},
    build=_consented_to,
)
condition_register(
    name="postcode", label="Postcode area or district", params={"prefix": "area (S) or district (S70)"}, build=_postcode
)
condition_register(name="country", label="Country", params={"country": "two-letter code, e.g. GB"}, build=_country)
condition_register(
    name="joined_between", label="Joined between dates", params={"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"},
    build=_joined_between,
)
condition_register(
    name="received_mailing", label="Was sent a mailing (wrap in not for “not sent”)", params={"mailing": "mailing number"},
    build=_received_mailing,
)


# --- Building -----------------------------------------------------------------------------

_MAX_DEPTH = 8


def segment_q(definition, *, depth: int = 0) -> Q:
    """The Q on Supporter a definition means; SegmentError says what is wrong with it."""
    if depth > _MAX_DEPTH:
        raise SegmentError("The segment is nested too deeply.")
    if not isinstance(definition, dict) or not definition:
        raise SegmentError('Each part must be an object: {"all": […]}, {"any": […]}, {"not": {…}} or {"condition": …}.')
    if "condition" in definition:
        condition = _REGISTRY.get(definition["condition"])
        if condition is None:
            known = ", ".join(sorted(_REGISTRY))
            raise SegmentError(f"Unknown condition {definition['condition']!r}. Known: {known}.")
        return condition.build(definition)
    if len(definition) != 1:
        raise SegmentError(f"Use exactly one of all, any, not or condition in {definition!r}.")
    (operator, operand), = definition.items()
    if operator in ("all", "any"):
        if not isinstance(operand, list):
            raise SegmentError(f"{operator!r} takes a list of conditions.")
        parts = [segment_q(part, depth=depth + 1) for part in operand]
        if not parts:
            if operator == "any":
                raise SegmentError("'any' needs at least one condition.")
            return Q()  # all of nothing: everyone
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if operator == "all" else combined | part
        return combined
    if operator == "not":
        return ~segment_q(operand, depth=depth + 1)
    raise SegmentError(f"Unknown operator {operator!r}: use all, any, not or condition.")


def segment_supporters(definition) -> QuerySet[Supporter]:
    """Everyone the segment describes, before the exclusion rule."""
    return Supporter.objects.filter(segment_q(definition))
