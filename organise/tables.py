"""Figures as tables: every chart in the workspace is drawn from a table of the same figures,
shown beside it and downloadable as CSV.

A view builds `FigureTable`s and puts them in its context; `organise/_figure_table.html`
renders one (caption, the table, a "Download CSV" link and, when `chart` is set, a canvas that
static/organise/charts.js fills with Chart.js from the table's own cells). The same view
answers `?csv=<table name>` with that table as a file (`figure_table_csv`), so the CSV, the
table and the chart can never disagree.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.http import Http404, StreamingHttpResponse
from django.utils.text import slugify

from engage.csvfiles import csv_stream


@dataclass
class FigureTable:
    name: str  # a slug, unique on its page: the ?csv= value and the element ids
    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence]  # the first cell labels the row; the rest are figures
    chart: str = ""  # "", "line", "bar" or "bar-horizontal"
    # Extra series drawn on the chart but not columns of the table (e.g. the goal line):
    # [{"label": …, "value": number}] drawn as a flat line.
    chart_lines: list = field(default_factory=list)
    # Points on the time axis to mark (e.g. when a mailing went out): [{"label": …, "at": row label}].
    chart_markers: list = field(default_factory=list)
    empty: str = ""  # what the table says when it has no rows


def figure_table_csv(request, tables: Sequence[FigureTable], *, filename_prefix: str):
    """If the request asks for ?csv=<name> of one of these tables: that table as CSV; else None.
    An unknown name is a 404."""
    wanted = request.GET.get("csv")
    if wanted is None:
        return None
    table = next((t for t in tables if t.name == wanted), None)
    if table is None:
        raise Http404
    response = StreamingHttpResponse(csv_stream(list(table.columns), table.rows), content_type="text/csv; charset=utf-8")
    filename = slugify(f"{filename_prefix}-{table.name}") or "figures"
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response
