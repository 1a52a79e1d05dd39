"""What a consent row's `source` names, in words a person recognises: "petition:<slug>…" is
the petition of that slug, "subscribe-form…" the subscribe form (docs/design.md, "One recipient
filter": the footer of a mailing sent as an organisation says where each recipient opted in).

engage cannot import the apps above it (docs/design.md, "Layers"), so an app whose forms write
consent sources registers how to name them from its AppConfig.ready():

    consent_sources.titles_register(kind="petition", titles=petition_titles)  # (slugs) -> {slug: title}
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

_titles: dict[str, Callable[[set[str]], dict[str, str]]] = {}


@dataclass(frozen=True)
class SourcePlace:
    """Where a consent was given: `kind` is the source's first word ("petition", "subscribe-form",
    "preferences"…), `title` the registered name of what it points at ("" if none)."""

    kind: str
    title: str = ""


def titles_register(*, kind: str, titles: Callable[[set[str]], dict[str, str]]) -> None:
    """Register (or replace) how to name the things sources of this kind point at, in one query."""
    _titles[kind] = titles


def _kind_and_key(source: str) -> tuple[str, str]:
    # "petition:<slug>[:<code>] [partner:<slug>] [via:<channel>]", "subscribe-form[:<code>]", "import:<id>"
    first = source.split(" ", 1)[0]
    kind, _, rest = first.partition(":")
    return kind, rest.split(":", 1)[0]


def source_places(sources: Iterable[str]) -> dict[str, SourcePlace]:
    """{source: its place}, one query per registered kind that occurs (none for the rest)."""
    parsed = {source: _kind_and_key(source) for source in set(sources)}
    keys: dict[str, set[str]] = {}
    for kind, key in parsed.values():
        if kind in _titles and key:
            keys.setdefault(kind, set()).add(key)
    titles = {kind: _titles[kind](wanted) for kind, wanted in keys.items()}
    return {source: SourcePlace(kind=kind, title=titles.get(kind, {}).get(key, "")) for source, (kind, key) in parsed.items()}
