"""Everything held about one person, from every app: the registry the apps above engage plug
into, so that a person's data is gathered for an export, deleted for an erasure, and consulted
before a person with "nothing left here" is deleted.

engage cannot import the apps above it (docs/design.md, "Layers"), so each app that holds personal data
registers a source here from its AppConfig.ready():

    personal_data.source_register(
        name="petitions",
        export=signatures_of,      # (supporter) -> JSON-ready dict of sections, e.g. {"signatures": [...]}
        erase=signatures_clear,    # (supporters queryset) -> None; runs before the rows are deleted
        holds=signers_among,       # optional: (supporter ids) -> the ids it still has a reason to keep
    )

engage's own tables (the supporter, consent ledger, subscriptions, sign-ups, memberships) are
read by engage.selectors.supporter_export_data and deleted by engage.services.erasure, which
call every registered source in turn.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet

from engage.models import Supporter

EXPORT_FORMAT = "muster-personal-data/1"


@dataclass(frozen=True)
class Source:
    name: str
    export: Callable[[Supporter], dict]
    erase: Callable[[QuerySet], None]
    holds: Callable[[list[int]], set[int]] | None = None


_sources: dict[str, Source] = {}


def source_register(
    *,
    name: str,
    export: Callable[[Supporter], dict],
    erase: Callable[[QuerySet], None],
    holds: Callable[[list[int]], set[int]] | None = None,
) -> None:
    """Register (or replace) one app's part of a person's data."""
    _sources[name] = Source(name=name, export=export, erase=erase, holds=holds)


def sources() -> list[Source]:
    return list(_sources.values())
