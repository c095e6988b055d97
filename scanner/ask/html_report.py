"""`omscan report --format html`: one self-contained page people look at — the latest scan,
charts, and a sortable, filterable table of every model.

Nothing is fetched when the page is opened (a Content-Security-Policy forbids it): the
charts are inline SVG drawn by pygal, the table is built by a short inline script from the
rows embedded as JSON, which keeps the page small enough to mail (a row costs about 100
bytes; the script shows at most 1,000 rows at a time, filtered and sorted from all).
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from string import Template
from typing import Any

import pygal
from pygal.style import Style

from .. import __version__
from ..core import NOT_FAILURES
from ..store import Store
from ..units import human_bytes
from .diff import Change, diff_scans, last_completed_scans
from .history import list_scans
from .report import COLUMNS, ReportFilter, report
from .totals import scan_totals

TEMPLATE = "report.html"
TOP = 15  # bars per chart
STYLE = Style(
    background="white",
    plot_background="white",
    font_family="system-ui, sans-serif",
    colors=("#3b82c4", "#e39b3b", "#c4403b", "#4aa564", "#8a63c4"),
    title_font_size=16,
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    value_font_size=10,
    no_data_font_size=20,
)


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, read from the store once."""

    rows: list[dict[str, Any]]  # latest results (report rows)
    scans: list[dict[str, Any]]  # every scan
    history: list[dict[str, Any]]  # fleet totals per completed scan
    changes: list[Change]  # since the previous completed scan
    compared: tuple[int, int] | None  # the scans ``changes`` compares
    filtered: bool


async def html_report(store: Store, wanted: ReportFilter) -> str:
    rows = await report(store, wanted, COLUMNS)
    changes: list[Change] = []
    compared = None
    if len(await last_completed_scans(store)) == 2:
        scan_a, scan_b, changes = await diff_scans(store, None, None)
        listed = {(row["repository"], row["relpath"]) for row in rows}
        changes = [c for c in changes if (c.repository, c.relpath) in listed or c.after is None]
        compared = (scan_a, scan_b)
    data = ReportData(
        rows,
        await list_scans(store),
        await scan_totals(store),
        changes,
        compared,
        wanted != ReportFilter(sort=wanted.sort),
    )
    return render_html(data, datetime.now(UTC))


def render_html(data: ReportData, generated: datetime) -> str:
    template = Template(resources.files(__package__).joinpath(TEMPLATE).read_text())
    latest = data.scans[-1] if data.scans else None
    return template.substitute(
        title="omscan report",
        subtitle=html.escape(_subtitle(data, latest)),
        version=__version__,
        generated=_when(generated),
        summary=_summary(data, latest),
        charts="\n".join(
            f'<div class="chart">{svg}</div>'
            for svg in (
                _by_repository(data.rows),
                _largest(data.rows),
                _over_time(data.history),
                _failures(data.rows),
                _growth(data.changes, data.compared),
            )
        ),
        data=_table_json(data.rows),
    )


def _subtitle(data: ReportData, latest: dict[str, Any] | None) -> str:
    if latest is None:
        return "no scan yet"
    when = _when(latest["finished_at"] or latest["started_at"])
    models = f"{len(data.rows):,} models" + (" (filtered)" if data.filtered else "")
    return f"scan {latest['id']} · {latest['status']} · {when} · {models}"


def _when(value: datetime | str | None) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC" if value.tzinfo else "%Y-%m-%d %H:%M")
    return str(value or "")[:16]


def _summary(data: ReportData, latest: dict[str, Any] | None) -> str:
    ok = [r for r in data.rows if r["status"] == "ok"]
    failed = [r for r in data.rows if r["status"] not in NOT_FAILURES]
    counts = json.loads(latest["counts"] or "{}") if latest else {}
    work = sum(int(r["work_size"]) for r in ok)
    weight = sum(int(r["weight_size"]) for r in ok)
    largest = max(ok, key=lambda r: int(r["total_size"]), default=None)
    figures = [
        ("files seen", f"{counts.get('files_seen', 0):,}", False),
        ("models ok", f"{len(ok):,}", False),
        ("failed", f"{len(failed):,}", bool(failed)),
        ("dynamic", f"{sum(1 for r in ok if r['dynamic']):,}", False),
        ("work memory (ok models)", human_bytes(work), False),
        ("weight memory (ok models)", human_bytes(weight), False),
        ("total", human_bytes(work + weight), False),
        ("repositories", f"{len({r['repository'] for r in data.rows}):,}", False),
    ]
    if largest:
        figures.append(
            (f"largest: {largest['relpath']}", human_bytes(int(largest["total_size"])), False)
        )
    return (
        '<div class="figures">'
        + "".join(
            f'<div class="figure{" bad" if bad else ""}"><b>{html.escape(value)}</b>'
            f"<span>{html.escape(label)}</span></div>"
            for label, value, bad in figures
        )
        + "</div>"
    )


def _unit(largest: float) -> tuple[str, int]:
    """The unit a chart's axis reads best in."""
    for name, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if largest >= factor:
            return name, factor
    return "B", 1


def _short(path: str, parts: int = 2) -> str:
    return os.sep.join(path.rstrip(os.sep).split(os.sep)[-parts:])


def _chart(kind: Callable[..., Any], title: str, unit: str, **config: Any) -> Any:
    chart = kind(
        style=STYLE,
        js=[],  # pygal's tooltips script would be fetched from the network
        width=800,
        height=400,
        legend_at_bottom=True,
        disable_xml_declaration=True,
        no_data_text="nothing to show",
        # the unit is in the axis title: bare numbers keep the axis labels short
        value_formatter=lambda v: f"{v:,.0f}" if unit == "models" else f"{v:,.1f}",
        **config,
    )
    chart.title = title
    return chart


def _sized_bars(title: str, labels: Sequence[str], work: list[int], weight: list[int]) -> str:
    name, factor = _unit(max((a + b for a, b in zip(work, weight, strict=True)), default=0))
    chart = _chart(pygal.HorizontalStackedBar, title, name, x_title=name)
    chart.x_labels = list(reversed(labels))
    chart.add("work", [w / factor for w in reversed(work)])
    chart.add("weights", [w / factor for w in reversed(weight)])
    return str(chart.render(is_unicode=True))


def _by_repository(rows: Sequence[dict[str, Any]]) -> str:
    totals: dict[str, list[int]] = {}
    for row in rows:
        if row["status"] == "ok":
            pair = totals.setdefault(row["repository"], [0, 0])
            pair[0] += int(row["work_size"])
            pair[1] += int(row["weight_size"])
    ranked = sorted(totals.items(), key=lambda item: -sum(item[1]))
    shown, rest = ranked[:TOP], ranked[TOP:]
    if rest:
        shown.append(
            (f"{len(rest)} others", [sum(p[0] for _, p in rest), sum(p[1] for _, p in rest)])
        )
    return _sized_bars(
        "Memory by repository (ok models)",
        [_short(repo) for repo, _ in shown],
        [p[0] for _, p in shown],
        [p[1] for _, p in shown],
    )


def _largest(rows: Sequence[dict[str, Any]]) -> str:
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: -int(r["total_size"]))
    top = ok[:TOP]
    return _sized_bars(
        f"Largest {len(top)} models",
        [_short(r["relpath"]) for r in top],
        [int(r["work_size"]) for r in top],
        [int(r["weight_size"]) for r in top],
    )


def _over_time(history: Sequence[dict[str, Any]]) -> str:
    name, factor = _unit(max((int(h["total_size"]) for h in history), default=0))
    chart = _chart(
        pygal.Line, "Fleet memory over the completed scans", name, y_title=name, include_x_axis=True
    )
    chart.x_labels = [f"#{h['scan_id']}" for h in history]
    chart.add("work + weights", [int(h["total_size"]) / factor for h in history])
    return str(chart.render(is_unicode=True))


def _failures(rows: Sequence[dict[str, Any]]) -> str:
    reasons: dict[str, int] = {}
    for row in rows:
        if row["status"] not in NOT_FAILURES:
            reason = f"{row['status']} {row['ret_name'] or ''}".strip()
            reasons[reason] = reasons.get(reason, 0) + 1
    ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    chart = _chart(pygal.HorizontalBar, "Failures by reason", "models", print_values=True)
    chart.x_labels = [reason for reason, _ in reversed(ranked)]
    if ranked:
        most = ranked[0][1]
        chart.y_labels = list(range(0, most + 1, max(1, most // 8)))  # whole models
        chart.add("models", [count for _, count in reversed(ranked)])
    return str(chart.render(is_unicode=True))


def _growth(changes: Sequence[Change], compared: tuple[int, int] | None) -> str:
    title = f"Growth from scan {compared[0]} to {compared[1]}" if compared else "Growth"
    ranked = sorted(changes, key=lambda c: (-abs(c.delta_total), c.relpath))[:TOP]
    name, factor = _unit(max((abs(c.delta_total) for c in ranked), default=0))
    chart = _chart(pygal.HorizontalBar, title, name, x_title=f"change in {name}")
    chart.x_labels = [f"{_short(c.relpath)} ({c.kind})" for c in reversed(ranked)]
    if ranked:
        chart.add("change of work + weights", [c.delta_total / factor for c in reversed(ranked)])
    return str(chart.render(is_unicode=True))


def _table_json(rows: Sequence[dict[str, Any]]) -> str:
    """The table's rows as compact JSON, safe inside a <script> element."""
    repositories = sorted({row["repository"] for row in rows})
    index = {repo: i for i, repo in enumerate(repositories)}
    payload = {
        "repositories": repositories,
        "rows": [
            [
                index[r["repository"]],
                r["relpath"],
                r["status"],
                r["ret_name"],
                int(r["work_size"]),
                int(r["weight_size"]),
                1 if r["dynamic"] else 0,
                r["soc_version"],
                r["format"],
            ]
            for r in rows
        ],
    }
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
