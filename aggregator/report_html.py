"""The privacy report as one self-contained HTML page (inline CSS and SVG, no network).

Every string that came from a client (labels) is escaped: the page is safe to
open from an untrusted federation.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["report_html"]

_W, _H, _PAD = 720, 320, 48
_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
            "#17becf", "#7f7f7f", "#bcbd22"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:60rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}
.warn{color:#b00020;font-weight:600}.note{color:#555;font-size:.9rem}
"""


def _series(report: dict[str, Any]) -> list[tuple[str, list[tuple[int, float]]]]:
    out = []
    for client in report["clients"]:
        for unit in ("example", "client"):
            points = [(h["round_number"], h["epsilon_recomputed"]) for h in client["history"]
                      if h["unit"] == unit]
            if points:
                name = f"client {client['client_id']} ({client['label'] or 'no label'}), {unit}"
                out.append((name, points))
    return out


def _chart(report: dict[str, Any]) -> str:
    series = _series(report)
    budget = float(report["budget"]["epsilon"])
    max_round = max([p[0] for _, pts in series for p in pts] + [1])
    max_eps = max([p[1] for _, pts in series for p in pts] + [budget]) * 1.1

    def x(r: float) -> float:
        return _PAD + (r - 0.5) / max_round * (_W - 2 * _PAD) if max_round else _PAD

    def y(e: float) -> float:
        return _H - _PAD - e / max_eps * (_H - 2 * _PAD)

    parts = [f'<svg id="epsilon-plot" xmlns="http://www.w3.org/2000/svg" width="{_W}" '
             f'height="{_H}" role="img" aria-label="epsilon over rounds per client">',
             f'<rect width="{_W}" height="{_H}" fill="white"/>',
             f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" '
             'stroke="#444"/>',
             f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#444"/>',
             f'<line x1="{_PAD}" y1="{y(budget):.1f}" x2="{_W - _PAD}" y2="{y(budget):.1f}" '
             'stroke="#b00020" stroke-dasharray="6 4"/>',
             f'<text x="{_W - _PAD}" y="{y(budget) - 6:.1f}" text-anchor="end" font-size="12" '
             f'fill="#b00020">budget epsilon = {budget:g}</text>',
             f'<text x="{_W / 2}" y="{_H - 10}" text-anchor="middle" font-size="12">round</text>',
             f'<text x="14" y="{_H / 2}" font-size="12" transform="rotate(-90 14 {_H / 2})" '
             'text-anchor="middle">epsilon</text>']
    for r in range(1, max_round + 1):
        parts.append(f'<text x="{x(r):.1f}" y="{_H - _PAD + 16}" font-size="11" '
                     f'text-anchor="middle">{r}</text>')
    for i in range(5):
        e = max_eps * i / 4
        parts.append(f'<text x="{_PAD - 6}" y="{y(e) + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{e:.2f}</text>')
    for k, (name, points) in enumerate(series):
        colour = _COLOURS[k % len(_COLOURS)]
        coords = " ".join(f"{x(r):.1f},{y(e):.1f}" for r, e in points)
        parts.append(f'<polyline class="client-series" fill="none" stroke="{colour}" '
                     f'stroke-width="2" points="{coords}"><title>{escape(name)}</title>'
                     '</polyline>')
        parts.extend(f'<circle cx="{x(r):.1f}" cy="{y(e):.1f}" r="3" fill="{colour}"/>'
                     for r, e in points)
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _worst(worst: dict[str, Any]) -> str:
    if worst["unbounded"]:
        return "epsilon unknown (unbounded)"
    return f"epsilon = {worst['epsilon']:.3f}"


def _custody_note(custody: dict[str, Any] | None) -> str:
    if not custody:
        return ""
    if custody["kind"] == "local":
        return "; single-custodian key custody"
    return (f"; threshold custody: {custody['threshold']} of {custody['custodians']} "
            f"custodians decrypt, after {custody['set_quorum']} agree on the contributors")


def report_html(report: dict[str, Any]) -> str:
    fed, budget = report["federation"], report["budget"]
    rows = []
    for c in report["clients"]:
        flags = []
        if c["over_budget"]:
            flags.append('<span class="warn">over budget</span>')
        if c["epsilon_unbounded"]:
            flags.append('<span class="warn">epsilon unknown (unbounded): no DP accounting for '
                         f"rounds {c['rounds_without_dp_event']}</span>")
        if c["mismatches"]:
            flags.append(f'<span class="warn">{c["mismatches"]} event(s) reported a lower '
                         "epsilon than recomputed</span>")
        if c["over_reports"]:
            flags.append(f"{c['over_reports']} event(s) reported more than recomputed "
                         "(a spend the server did not see recorded; not an alarm)")
        rows.append(
            f"<tr><td>{c['client_id']}</td><td class='l'>{escape(c['label'])}</td>"
            f"<td>{_fmt(c['epsilon']['example'])}</td><td>{_fmt(c['epsilon']['client'])}</td>"
            f"<td>{c['budget_remaining']:.3f}</td><td>{len(c['rounds_contributed'])}</td>"
            f"<td class='l'>{'; '.join(flags)}</td></tr>")
    rounds = "".join(f"<tr><td>{r['number']}</td><td class='l'>{escape(r['stage'])}</td>"
                     f"<td>{r['contributors']}</td>"
                     f"<td>{'-' if r['assumed_colluders'] is None else r['assumed_colluders']}"
                     f"</td><td>{r['excluded']}</td></tr>" for r in report["rounds"])
    caveats = "".join(f"<li>{escape(c)}</li>" for c in report["caveats"])
    worst = report["worst_case"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Privacy report: {escape(fed['name'])}</title><style>{_CSS}</style></head>
<body>
<h1>Privacy report: {escape(fed['name'])}</h1>
<p>Budget: <b>epsilon = {budget['epsilon']:g}</b> at delta = {budget['delta']:g} per client.
Worst case so far: <b>{_worst(worst)}</b>
(client {worst['client_id'] if worst['client_id'] is not None else '-'}).
Units of privacy: {escape(', '.join(report['units_of_privacy']) or 'none yet')};
mechanisms: {escape(', '.join(report['mechanisms']) or 'none yet')};
accountants: {escape(', '.join(report['accountants']) or '-')}.</p>
<p>Protection ({escape(fed['mode'])}{escape(_custody_note(fed.get('custody')))}):
{escape(fed['threat_model'])}</p>
<p>Accounting: {escape(report['accounting']['client_level'])}.</p>
<h2>Epsilon over rounds</h2>
{_chart(report)}
<h2>Clients</h2>
<table><tr><th>client</th><th class="l">label</th><th>epsilon (example)</th>
<th>epsilon (client)</th><th>budget left</th><th>rounds</th><th class="l">notes</th></tr>
{''.join(rows)}</table>
<h2>Rounds</h2>
<table><tr><th>round</th><th class="l">stage</th><th>contributors</th>
<th>assumed colluders</th><th>excluded</th></tr>{rounds}</table>
<h2>Caveats</h2><ul>{caveats}</ul>
<p class="note">{escape(report['schema'])}, generated {escape(report['generated_at'])}.</p>
</body></html>
"""
