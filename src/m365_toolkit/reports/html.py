"""The dashboard as one self-contained HTML page: inline CSS, JS, SVG and the data as JSON.

The page reads completely without JavaScript: every table is rendered here, and the script
only adds filtering and sorting. A Content-Security-Policy meta tag allows nothing but the
page's own style and script blocks, named by their SHA-256, so even text that slipped past
escaping could load or run nothing. Stored text goes through :func:`~._text.esc` only.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from decimal import Decimal
from importlib.resources import files
from string import Template

from ._text import esc, json_script, money, number, percent, slug
from .charts import costs_chart, sessions_chart, trend_chart
from .model import Compliance, CostLine, Costs, Dashboard, Header, Operations

SESSION_STATUSES = ("success", "error", "cancelled", "active")
CONTROL_STATUSES = ("Fail", "Error", "Accepted", "Manual", "Skipped", "Pass")
_EVIDENCE_INLINE = 160  # longer evidence folds into a <details>, readable without JS
_ASSETS = files(__package__) / "assets"
_NUMBER = ' data-type="number"'

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="$csp">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>$title</title>
<style>$css</style>
</head>
<body>
<a class="skip" href="#compliance">Skip to compliance</a>
<header>
<h1>$title</h1>
$header
<nav aria-label="Sections"><a href="#compliance">Compliance</a> <a href="#operations">Operations</a>
<a href="#costs">LLM costs</a></nav>
</header>
<main>
$compliance
$operations
$costs
</main>
<footer><p>Generated offline by m365-toolkit $version. This file loads nothing from the
network; its data is also in the JSON block <code>#dashboard-data</code>.</p></footer>
<script type="application/json" id="dashboard-data">$data</script>
<script>$js</script>
</body>
</html>
""")


def csp_hash(block: str) -> str:
    """The CSP source expression of an inline block: ``'sha256-<base64>'``."""
    digest = hashlib.sha256(block.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def render_html(dashboard: Dashboard) -> str:
    """The whole page."""
    css = (_ASSETS / "dashboard.css").read_text(encoding="utf-8")
    js = (_ASSETS / "dashboard.js").read_text(encoding="utf-8")
    csp = (f"default-src 'none'; style-src {csp_hash(css)}; script-src {csp_hash(js)}; "
           "base-uri 'none'; form-action 'none'")  # fmt: skip
    return _PAGE.substitute(
        csp=csp,
        title="M365 security dashboard",
        css=css,
        js=js,
        version=esc(dashboard.header.toolkit_version),
        header=_header(dashboard.header),
        compliance=_compliance(dashboard.compliance),
        operations=_operations(dashboard.operations),
        costs=_costs(dashboard.costs),
        data=json_script(dashboard.to_dict()),
    )


# -- building blocks -------------------------------------------------------------------------


def _table(table_id: str, caption: str, heads: Sequence[str], rows: Iterable[str],
           *, numeric: Sequence[int] = ()) -> str:  # fmt: skip
    """A sortable table; ``rows`` are ready ``<tr>`` elements, ``numeric`` the columns
    sorted as numbers."""
    ths = "".join(
        f'<th scope="col"{_NUMBER if i in numeric else ""}>{esc(h)}</th>'
        for i, h in enumerate(heads)
    )
    body = "".join(rows) or f'<tr><td colspan="{len(heads)}" class="none">None.</td></tr>'
    return (f'<div class="scroll"><table id="{table_id}" class="sortable"><caption>'
            f"{esc(caption)}</caption><thead><tr>{ths}</tr></thead><tbody>{body}</tbody>"
            "</table></div>")  # fmt: skip


def _row(cells: Iterable[object], *, head: bool = True, attrs: str = "") -> str:
    """A row whose first cell is its header (``th scope=row``); cells are escaped here."""
    out = []
    for i, cell in enumerate(cells):
        text = cell if isinstance(cell, _Html) else esc(cell)
        out.append(f'<th scope="row">{text}</th>' if head and i == 0 else f"<td>{text}</td>")
    return f"<tr{attrs}>{''.join(out)}</tr>"


class _Html(str):
    """Markup built here from escaped parts: :func:`_row` inserts it as it is."""


def _badge(status: str) -> _Html:
    return _Html(f'<span class="badge s-{slug(status)}">{esc(status)}</span>')


def _long(text: str) -> _Html:
    if len(text) <= _EVIDENCE_INLINE:
        return _Html(esc(text))
    return _Html(f"<details><summary>{esc(text[:_EVIDENCE_INLINE])}…</summary>"
                 f"{esc(text)}</details>")  # fmt: skip


def _select(name: str, label: str, values: Iterable[str], table: str) -> str:
    options = "".join(f'<option value="{esc(v)}">{esc(v or "(none)")}</option>'
                      for v in sorted(set(values)))  # fmt: skip
    return (f'<label>{esc(label)} <select name="{name}" data-table="{table}">'
            f'<option value="">All</option>{options}</select></label>')  # fmt: skip


def _filters(table: str, selects: Sequence[tuple[str, str, Iterable[str]]], total: int) -> str:
    """Filter controls, shown only once the script runs (``hidden`` until then)."""
    controls = "".join(_select(name, label, values, table) for name, label, values in selects)
    return (f'<form class="filters" data-table="{table}" hidden role="search" '
            f'aria-label="Filter {table}">{controls}<label>Search <input type="search" '
            f'name="q" data-table="{table}"></label> <output id="{table}-count" '
            f'aria-live="polite">{total} rows</output></form>')  # fmt: skip


# -- sections --------------------------------------------------------------------------------


def _header(h: Header) -> str:
    period = (f"last {number(h.period_days)} days (since {h.period_start:%Y-%m-%d %H:%M} UTC)"
              if h.period_days is not None and h.period_start else "all time")  # fmt: skip
    items = [
        ("Store", h.store),
        ("Toolkit folder", h.root),
        ("Period (operations, costs)", period),
        ("Generated", f"{h.generated_at:%Y-%m-%d %H:%M:%S} UTC by {h.generated_by}"),
        ("Session", h.session_id or "–"),
        ("Toolkit version", h.toolkit_version),
    ]
    trail = h.integrity
    checkpoint = (f"newest of {trail.checkpoints}: size {trail.last_checkpoint_size:,}, taken "
                  f"{trail.last_checkpoint_time}" if trail.last_checkpoint_time else
                  "none held against the chain (report --anchor-dir)")  # fmt: skip
    badge = {"intact": "pass", "broken": "fail"}.get(trail.status, "manual")
    facts = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in items)
    return (f'<dl class="facts">{facts}<div id="integrity" data-status="{esc(trail.status)}">'
            f'<dt>Trail integrity</dt><dd><span class="badge s-{badge}">{esc(trail.status)}'
            f"</span> {esc(trail.summary)} Checkpoints: {esc(checkpoint)}.</dd></div>"
            "</dl>")  # fmt: skip


def _compliance(c: Compliance) -> str:
    parts = ['<section id="compliance" aria-labelledby="compliance-h">',
             '<h2 id="compliance-h">Compliance</h2>']  # fmt: skip
    if c.latest is None:
        parts.append('<p class="none">No audit runs are stored yet, and no results file was '
                     "found. Run <code>m365-toolkit audit run</code>.</p></section>")  # fmt: skip
        return "".join(parts)
    latest = c.latest
    counts = "".join(f'<li>{_badge(s)} <span class="count">{latest.counts.get(s, 0)}</span></li>'
                     for s in sorted(latest.counts, key=_status_order))  # fmt: skip
    parts.append(
        '<div class="score"><p><span class="big" id="score">'
        f"{esc(percent(latest.pass_rate_percent))}</span> pass rate (Pass / (Pass + Fail)) "
        "in the latest run, "
        f"{latest.started_at:%Y-%m-%d %H:%M} UTC, {latest.total} controls "
        f'(<span class="mono">{esc(latest.run_id)}</span>, from {esc(latest.source)}).</p>'
        f'<ul class="counts" aria-label="Controls by status">{counts}</ul></div>'
    )
    parts.append("<h3>Pass rate over all stored runs</h3>")
    parts.append(trend_chart(c.trend))
    run_rows = (_row([f"{r.started_at:%Y-%m-%d %H:%M}", r.run_id, r.source,
                      percent(r.pass_rate_percent), r.counts.get("Pass", 0),
                      r.counts.get("Fail", 0), r.total]) for r in reversed(c.trend))  # fmt: skip
    parts.append(f"<details><summary>All {len(c.trend)} runs as a table</summary>"
                 + _table("runs", "Audit runs, newest first",
                          ["Started (UTC)", "Run", "Source", "Pass rate", "Pass", "Fail",
                           "Controls"], run_rows, numeric=(4, 5, 6)) + "</details>")  # fmt: skip
    parts.append(_drift(c))
    parts.append("<h3>Controls of the latest run</h3>")
    controls = c.controls
    parts.append(_filters("controls", [
        ("status", "Status", (x.status for x in controls)),
        ("severity", "Severity", (x.severity for x in controls)),
        ("section", "Section", (x.section for x in controls)),
        ("profile", "Profile", (x.profile for x in controls)),
        ("engine", "Engine", (x.engine for x in controls)),
    ], len(controls)))  # fmt: skip
    rows = (
        _row([x.control_id, x.title, _badge(x.status), x.severity, x.section, x.profile,
              x.engine, _long(x.expected), _long(x.actual),
              _long(" — ".join(t for t in (x.evidence, x.reason) if t))],
             attrs=_data(status=x.status, severity=x.severity, section=x.section,
                         profile=x.profile, engine=x.engine))
        for x in controls
    )  # fmt: skip
    parts.append(_table("controls", f"{len(controls)} controls",
                        ["Control", "Title", "Status", "Severity", "Section", "Profile",
                         "Engine", "Expected", "Actual", "Evidence"], rows))  # fmt: skip
    parts.append("<h3>Accepted exceptions</h3>")
    parts.append(_table("exceptions", "Failing controls accepted, kept out of the pass rate",
                        ["Control", "Title", "Reason", "Owner", "Expires"],
                        (_row([e.control_id, e.title, e.reason, e.owner, e.expires])
                         for e in c.exceptions)))  # fmt: skip
    parts.append("</section>")
    return "".join(parts)


def _drift(c: Compliance) -> str:
    if c.previous is None:
        return '<h3>Drift</h3><p class="none">Only one run is stored: no drift yet.</p>'
    summary = "".join(
        f'<li><span class="badge d-{slug(k)}">{esc(k.replace("_", " "))}</span> '
        f'<span class="count" id="drift-{slug(k)}">{n}</span></li>'
        for k, n in c.drift_counts.items() if k != "unchanged" or n
    )  # fmt: skip
    items = [d for d in c.drift if d.drift != "unchanged" or d.actual_changed]
    rows = (_row([d.control_id, d.title, _badge(d.drift.replace("_", " ")),
                  d.previous_status or "–", d.current_status or "–",
                  "yes" if d.actual_changed else ""],
                 attrs=_data(drift=d.drift.replace("_", " "))) for d in items)  # fmt: skip
    return (
        f"<h3>Drift since the previous run ({c.previous.started_at:%Y-%m-%d %H:%M} UTC)</h3>"
        f'<ul class="counts" aria-label="Controls by drift class">{summary}</ul>'
        + _filters("drift", [("drift", "Drift", (d.drift.replace("_", " ") for d in items))],
                   len(items))
        + _table("drift", "Controls that changed", ["Control", "Title", "Drift", "Before",
                 "Now", "Actual value changed"], rows)
    )  # fmt: skip


def _operations(o: Operations) -> str:
    def split(groups: dict[str, dict[str, int]]) -> Iterable[str]:
        for key, counts in groups.items():
            yield _row([key, sum(counts.values()), *(counts.get(s, 0) for s in SESSION_STATUSES)])

    heads = ["Total", *(s.capitalize() for s in SESSION_STATUSES)]
    numeric = tuple(range(1, 6))
    day_rows = (_row([day, sum(c.values()), *(c.get(s, 0) for s in SESSION_STATUSES)])
                for day, c in reversed(o.by_day.items()))  # fmt: skip
    failed = (_row([f"{f.start_time:%Y-%m-%d %H:%M:%S}", f.operation_type, f.user,
                    _Html(f'<span class="mono">{esc(f.session_id)}</span>'),
                    "; ".join(f.errors) or "(no error event)"]) for f in o.failed)  # fmt: skip
    stale = (_row([f"{s.start_time:%Y-%m-%d %H:%M:%S}", s.operation_type, s.user,
                   s.session_id, s.host, s.pid if s.pid is not None else "–"])
             for s in o.stale)  # fmt: skip
    shown = (f"the {len(o.failed)} most recent of {o.failed_total}"
             if o.failed_total > len(o.failed) else f"{o.failed_total}")  # fmt: skip
    return "".join([
        '<section id="operations" aria-labelledby="operations-h">',
        f'<h2 id="operations-h">Operations</h2><p><span class="big">{o.total:,}</span> '
        "sessions in the period.</p>",
        '<h3>Sessions per day by status</h3><ul class="legend" aria-hidden="true">',
        "".join(f'<li><span class="swatch s-{s}"></span>{s}</li>' for s in SESSION_STATUSES),
        "</ul>", sessions_chart(o.by_day, SESSION_STATUSES),
        "<details><summary>Per day as a table</summary>",
        _table("by-day", "Sessions per day (UTC)", ["Day", *heads], day_rows, numeric=numeric),
        "</details>",
        "<h3>By operation type</h3>",
        _table("by-type", "Sessions per operation type", ["Operation type", *heads],
               split(o.by_type), numeric=numeric),
        "<h3>By user</h3>",
        _table("by-user", "Sessions per user", ["User", *heads], split(o.by_user),
               numeric=numeric),
        "<h3>Durations</h3>",
        _table("durations", "Duration of finished sessions, seconds (nearest rank)",
               ["Operation type", "Sessions", "p50", "p95"],
               (_row([p.operation_type, p.count, number(p.p50), number(p.p95)])
                for p in o.durations), numeric=(1, 2, 3)),
        f"<h3>Failed sessions ({shown})</h3>",
        _table("failed", "Sessions that ended in error, newest first",
               ["Started (UTC)", "Operation type", "User", "Session", "Error events"], failed),
        f"<h3>Stale sessions ({len(o.stale)})</h3>",
        _table("stale", "Active sessions whose process has ended",
               ["Started (UTC)", "Operation type", "User", "Session", "Host", "PID"], stale),
        "</section>",
    ])  # fmt: skip


def _costs(c: Costs) -> str:
    def lines(table_id: str, caption: str, key: str, groups: Sequence[CostLine]) -> str:
        rows = (_row([g.key, g.requests, g.tokens, money(g.cost)]) for g in groups)
        return _table(
            table_id, caption, [key, "Requests", "Tokens", "Cost (USD)"], rows, numeric=(1, 2, 3)
        )

    budgets = (
        _row([b.name.replace("_", " "), money(b.limit),
              money(b.spent) + (f" ({b.top})" if b.top else ""),
              _Html(f'<meter min="0" max="100" value="{min(b.percent, 100):g}">'
                    f"{esc(percent(b.percent))}</meter> {esc(percent(b.percent))}")
              if b.percent is not None else "per session"])
        for b in c.budgets
    )  # fmt: skip
    return "".join([
        '<section id="costs" aria-labelledby="costs-h"><h2 id="costs-h">LLM costs</h2>',
        f'<p><span class="big">{esc(money(c.total))}</span> for {c.requests:,} requests in '
        "the period.</p>",
        "<h3>Spend per day</h3>", costs_chart(c.by_day),
        lines("costs-day", "Spend per day", "Day", tuple(reversed(c.by_day))),
        "<h3>Per model</h3>", lines("costs-model", "Spend per model", "Model", c.by_model),
        "<h3>Per operation type</h3>",
        lines("costs-operation", "Spend per operation type", "Operation type", c.by_operation),
        "<h3>Per user</h3>", lines("costs-user", "Spend per user", "User", c.by_user),
        "<h3>Budgets</h3>",
        _table("budgets", "Budget use in the current period (user budgets: the top user)",
               ["Budget", "Limit", "Spent", "Used"], budgets),
        _per_session(c),
        "</section>",
    ])  # fmt: skip


def _per_session(c: Costs) -> str:
    """With a session budget: the most spending sessions and their share of it."""
    if c.session_limit is None:
        return ""
    limit = c.session_limit
    rows = (
        _row([g.key, g.requests, g.tokens, money(g.cost), percent(_share(g.cost, limit))])
        for g in c.by_session
    )
    return "".join([
        "<h3>Per session</h3>",
        f"<p>{c.sessions_over:,} session(s) of the period reached the session budget of "
        f"{esc(money(limit))}.</p>",
        _table("costs-session", "The most spending sessions of the period (all their costs)",
               ["Session", "Requests", "Tokens", "Cost (USD)", "Of the session budget"], rows,
               numeric=(1, 2, 3, 4)),
    ])  # fmt: skip


def _share(spent: Decimal, limit: Decimal) -> float:
    return round(float(spent / limit * 100), 1)


def _data(**values: str) -> str:
    return "".join(f' data-{k}="{esc(v)}"' for k, v in values.items())


def _status_order(status: str) -> int:
    return CONTROL_STATUSES.index(status) if status in CONTROL_STATUSES else len(CONTROL_STATUSES)
