"""The report as one self-contained HTML page: inline CSS, charts as inline SVG (matplotlib).

Made to be looked at: the promises first as coloured tiles, then charts (calls and service
level by hour, waits, departments, feedback), then every exception with its call SID or task.
No script, no external file: it can be e-mailed or archived as it is. Every chart is a
figure named by its caption, with its figures as a table beside it (its text alternative,
WCAG 1.1.1), and the page has a skip link and landmarks like the console's.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from html import escape
from zoneinfo import ZoneInfo

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ivr.report import LONDON, Report
from ivr.report.text import dept_name, pct, period, seconds, when

WITHIN, LATE, ABANDONED, VOICEMAIL, NONE = "#009E73", "#56B4E9", "#E69F00", "#CC79A7", "#9aa5b1"
LINE = "#0b3c5d"
NUMBER = re.compile(r"[–\d][\d.,% /()a-zSL]*")  # numbers, shares, "2 min 05 s": right-aligned
LINES = {"payment": "Payment line", "text_phone": "Text phone"}
CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1d2733;
margin:0;background:#f3f5f7}main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 12px;border-bottom:2px solid
#d5dbe1;padding-bottom:4px}.sub{color:#52606d;margin:0 0 20px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.tile{background:#fff;border-radius:10px;padding:14px 16px;border-top:6px solid #9aa5b1;
box-shadow:0 1px 3px #0001}.tile .v{font-size:34px;font-weight:700}.tile .l{font-weight:600}
.tile .n{color:#52606d;font-size:13px}.good{border-color:#1a9850}.warn{border-color:#f0a202}
.bad{border-color:#d7301f}.none{border-color:#9aa5b1}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(520px,100%),1fr));
gap:16px}.wide{overflow-x:auto}
.card{background:#fff;border-radius:10px;padding:12px 16px;box-shadow:0 1px 3px #0001}
.card svg{width:100%;height:auto}table{border-collapse:collapse;width:100%;background:#fff;
font-size:14px}th,td{padding:6px 8px;border-bottom:1px solid #e4e7eb;text-align:left}
th.n,td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#eef1f4}
.narrow svg{max-width:440px}
.ok{color:#1a7f37;font-weight:600}.foot{color:#52606d;font-size:13px;margin-top:32px}
code{font-size:13px}
.skip{position:absolute;left:8px;top:-48px;background:#fff;color:#0b3c5d;padding:8px 12px;
border:2px solid #0b3c5d;border-radius:4px;font-weight:600}.skip:focus{top:8px}
figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}
details{margin-top:8px}summary{cursor:pointer;color:#0b3c5d;font-weight:600}
"""


def _svg(fig: Figure, name: str) -> str:
    """The figure as an ``<svg>`` element whose ids are prefixed, unique in the page."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    text = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', text[text.index("<svg"):])
    return re.sub(r'(url\(#|href="#)([^")]+)', rf"\1{name}-\2", text)


def _style(name: str):
    """Chart style for one figure (thread-safe: nothing global is changed for good)."""
    return matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name,
                                  "font.size": 10, "axes.spines.top": False,
                                  "axes.spines.right": False})


def _render(name: str, draw, *args) -> str:
    with _style(name):
        return _svg(draw(*args), name)


def figure(name: str, caption: str, svg: str, headers: list[str], rows: list[list[str]]) -> str:
    """A chart as a figure: its caption names the image, and the same figures follow as a
    table (the chart's text alternative)."""
    if not svg:
        return ""
    labelled = svg.replace("<svg ", f'<svg role="img" aria-labelledby="{name}-caption" ', 1)
    return (f'<figure aria-labelledby="{name}-caption"><figcaption id="{name}-caption">'
            f"{escape(caption)}</figcaption>{labelled}<details><summary>{escape(caption)}: "
            f"the figures as a table</summary>{_table(headers, rows, 'No figures.')}"
            "</details></figure>")


def hours_rows(r: Report) -> tuple[list[str], list[list[str]]]:
    """The hours chart's figures: each hour's callers by outcome, and its service level."""
    headers = ["Hour"] + [label for label, _, _ in _parts(r)] + ["Service level"]
    rows = [[f"{h:02d}:00"] + [str(n) for _, n, _ in _parts(x)] + [pct(x.service_level)]
            for h, x in r.by_hour.items() if x.offered]
    return headers, rows


def waits_rows(r: Report, step: int = 10) -> tuple[list[str], list[list[str]]]:
    """The waits histogram's figures: callers per 10-second band, by outcome."""
    groups = [("Answered", {"answered"}), ("Hung up", {"abandoned"}),
              ("To voicemail", {"timed_out", "full", "error"})]
    bands: dict[int, list[int]] = {}
    for v in r.visits:
        for i, (_, kinds) in enumerate(groups):
            if v.outcome in kinds and v.wait is not None:
                bands.setdefault(v.wait // step, [0, 0, 0])[i] += 1
    rows = [[f"{b * step}–{b * step + step - 1} s"] + [str(n) for n in counts]
            for b, counts in sorted(bands.items())]
    return ["Seconds in the queue"] + [g for g, _ in groups], rows


def departments_rows(r: Report, names: Mapping[str, str]) -> tuple[list[str], list[list[str]]]:
    headers = ["Department"] + [label for label, _, _ in _parts(r)] + ["Service level"]
    rows = [[dept_name(d, names)] + [str(n) for _, n, _ in _parts(x)] + [pct(x.service_level)]
            for d, x in r.by_department.items() if x.offered]
    return headers, rows


def feedback_rows(r: Report) -> tuple[list[str], list[list[str]]]:
    return ["Score", "Callers"], [[str(s), str(r.feedback_scores.get(s, 0))]
                                  for s in range(1, 6)]


def _parts(r: Report) -> list[tuple[str, int, str]]:
    late = r.answered - r.answered_within
    to_vm = r.timed_out + r.full + r.errors
    return [(f"Answered within {r.limit} s", r.answered_within, WITHIN),
            ("Answered later", late, LATE), ("Hung up", r.abandoned, ABANDONED),
            ("To voicemail", to_vm, VOICEMAIL), ("No outcome recorded", r.no_outcome, NONE)]


def chart_hours(r: Report, tz: ZoneInfo) -> str:
    return _render("hours", _hours, r, tz)


def _hours(r: Report, tz: ZoneInfo) -> Figure:
    fig = Figure(figsize=(7.2, 3.4))
    ax = fig.subplots()
    hours = [h for h, x in r.by_hour.items() if x.offered]
    bottom = [0] * len(hours)
    for i, (label, total, colour) in enumerate(_parts(r)):
        if not total:
            continue
        values = [_parts(r.by_hour[h])[i][1] for h in hours]
        ax.bar(hours, values, bottom=bottom, color=colour, label=label, width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(hours, [f"{h:02d}:00" for h in hours])
    ax.set_ylabel("Callers queued")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    sl = ax.twinx()
    sl.plot(hours, [100 * (r.by_hour[h].service_level or 0) for h in hours], color=LINE,
            marker="o", linewidth=2.2, label="Service level")
    sl.set_ylim(0, 105)
    sl.yaxis.set_major_formatter(PercentFormatter())
    sl.set_ylabel("Service level")
    sl.spines["right"].set_visible(True)
    handles = ax.get_legend_handles_labels()[0] + sl.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="lower center", ncol=5, frameon=False, fontsize=9,
               bbox_to_anchor=(0.5, -0.08))
    ax.set_title(f"Calls and service level by hour ({tz.key})", loc="left", fontweight="bold")
    return fig


def chart_waits(r: Report) -> str:
    return _render("waits", _waits, r)


def _waits(r: Report) -> Figure:
    fig = Figure(figsize=(7.2, 3.4))
    ax = fig.subplots()
    step = 10
    top = max(r.longest_wait, r.limit + r.tolerance) + step
    bins = list(range(0, top + step, step))
    groups = [("Answered", {"answered"}, WITHIN), ("Hung up", {"abandoned"}, ABANDONED),
              ("To voicemail", {"timed_out", "full", "error"}, VOICEMAIL)]
    data = [[v.wait for v in r.visits if v.outcome in kinds and v.wait is not None]
            for _, kinds, _ in groups]
    ax.hist(data, bins=bins, stacked=True, color=[g[2] for g in groups],
            label=[g[0] for g in groups])
    ax.axvline(r.limit, color="#333", linestyle="--", linewidth=1.2)
    ax.axvline(r.limit + r.tolerance, color="#d7301f", linestyle=":", linewidth=1.4)
    ax.text(r.limit, ax.get_ylim()[1] * 0.95, f" {r.limit} s limit ", ha="right", fontsize=9)
    ax.set_xlabel("Seconds in the queue")
    ax.set_ylabel("Callers")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, fontsize=9)
    ax.set_title("How long callers waited", loc="left", fontweight="bold")
    return fig


def chart_departments(r: Report, names: Mapping[str, str]) -> str:
    return _render("departments", _departments, r, names)


def _departments(r: Report, names: Mapping[str, str]) -> Figure:
    depts = [d for d, x in r.by_department.items() if x.offered]
    fig = Figure(figsize=(7.2, 0.55 * max(len(depts), 2) + 1.2))
    ax = fig.subplots()
    labels = [dept_name(d, names) for d in depts]
    left = [0] * len(depts)
    for i, (label, total, colour) in enumerate(_parts(r)):
        if not total:
            continue
        values = [_parts(r.by_department[d])[i][1] for d in depts]
        ax.barh(labels, values, left=left, color=colour, label=label, height=0.6)
        left = [a + b for a, b in zip(left, values, strict=True)]
    for y, d in enumerate(depts):
        ax.text(left[y], y, f"  SL {pct(r.by_department[d].service_level)}", va="center",
                fontsize=9, fontweight="bold")
    ax.invert_yaxis()
    ax.set_xlim(0, max(left, default=1) * 1.25 or 1)
    ax.set_xlabel("Callers queued")
    ax.legend(frameon=False, fontsize=9, loc="upper center", ncol=4,
              bbox_to_anchor=(0.5, -0.35 if len(depts) < 4 else -0.18))
    ax.set_title("By department", loc="left", fontweight="bold")
    return fig


def chart_feedback(r: Report) -> str:
    return _render("feedback", _feedback, r)


def _feedback(r: Report) -> Figure:
    fig = Figure(figsize=(5.2, 2.8))
    ax = fig.subplots()
    scores = [1, 2, 3, 4, 5]
    colours = ["#d7301f", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"]
    counts = [r.feedback_scores.get(s, 0) for s in scores]
    ax.bar([str(s) for s in scores], counts, color=colours, edgecolor="#555", linewidth=0.5)
    ax.set_xlabel("Score (5 = excellent)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    mean = f"{r.feedback_mean:.2f}" if r.feedback_mean else "–"
    ax.set_title(f"Caller feedback: average {mean}", loc="left", fontweight="bold")
    return fig


def _tile(label: str, share: float | None, note: str, good: float, warn: float,
          shown: str | None = None) -> str:
    level = "none" if share is None else "good" if share >= good else (
        "warn" if share >= warn else "bad")
    return (f'<div class="tile {level}"><div class="l">{escape(label)}</div>'
            f'<div class="v">{escape(shown or pct(share))}</div>'
            f'<div class="n">{escape(note)}</div></div>')


def _table(headers: list[str], rows: list[list[str]], empty: str, label: str = "") -> str:
    if not rows:
        return f'<p class="ok">{escape(empty)}</p>'
    kinds = ["n" if all(NUMBER.fullmatch(row[i]) for row in rows) else "t"
             for i in range(len(headers))]
    head = "".join(f'<th class="{k}">{escape(h)}</th>' for h, k in zip(headers, kinds,
                                                                       strict=True))
    body = "".join("<tr>" + "".join(f'<td class="{k}">{escape(c)}</td>'
                                    for c, k in zip(row, kinds, strict=True)) + "</tr>"
                   for row in rows)
    # Scrolls sideways on a narrow screen: a named region a keyboard can reach (WCAG 2.1.1).
    name = escape(f"{label or headers[0]} table")
    return (f'<div class="wide" role="region" tabindex="0" aria-label="{name}"><table><thead>'
            f"<tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def render_html(r: Report, names: Mapping[str, str], tz: ZoneInfo = LONDON,
                generated: float | None = None) -> str:
    scope = dept_name(r.department, names) if r.department else "All departments"
    tiles = "".join([
        _tile("2-minute promise", r.promise_share, f"{r.promise_kept} of {r.promise_counted} "
              f"answered or offered voicemail within {r.limit + r.tolerance} s", 0.98, 0.9),
        _tile("Called back next working day", r.callback_share,
              f"{r.callbacks_kept} of {r.callbacks_counted} callbacks by the due time", 0.98, 0.9),
        _tile("Recording notice played", r.notice_share,
              f"{r.notice_played} of {r.inbound} inbound calls", 1.0, 0.99),
        _tile("Service level", r.service_level, f"{r.answered_within} of {r.offered} answered "
              f"within {r.limit} s; SL2 {pct(r.service_level2)}", 0.8, 0.7),
        _tile("Resolved first time", r.fcr, f"{r.resolved} of {r.wrapups} wrap-ups", 0.75, 0.6),
        _tile("Caller feedback", (r.feedback_mean or 0) / 5 if r.feedback_count else None,
              f"average score out of 5, from {r.feedback_count} callers", 0.8, 0.7,
              f"{r.feedback_mean:.2f}" if r.feedback_mean else "–"),
    ])
    queue_rows = [
        ["Offered (entered a queue)", str(r.offered)],
        ["Answered", str(r.answered)],
        [f"Answered within {r.limit} s", f"{r.answered_within} (SL {pct(r.service_level)})"],
        ["SL2: short abandons as served (Asterisk)", pct(r.service_level2)],
        ["Hung up while queuing", f"{r.abandoned} ({r.abandoned_within} within {r.limit} s)"],
        ["Sent to voicemail at the limit", str(r.timed_out)],
        ["Queue full / queue error", f"{r.full} / {r.errors}"],
        ["No advisor signed in (voicemail offered)", str(r.no_agents)],
        ["Longest wait", seconds(r.longest_wait)], ["Mean wait (answered)", seconds(r.mean_wait)],
    ]
    dept_rows = [[dept_name(d, names), str(x.offered), str(x.answered), pct(x.service_level),
                  pct(x.service_level2), str(x.abandoned), str(x.timed_out),
                  pct(x.promise_share), pct(x.callback_share), pct(x.fcr),
                  f"{x.feedback_mean:.1f}" if x.feedback_mean else "–"]
                 for d, x in r.by_department.items() if d or x.offered or x.callbacks]
    misses = [[when(m.visit.ts, tz), dept_name(m.visit.dept, names), m.visit.call, m.what]
              for m in r.misses]
    overdue = [[o.task.task, dept_name(o.task.dept, names), when(o.task.ts, tz),
                when(o.task.due_at, tz), o.task.status, when(o.task.closed_at, tz), o.what]
               for o in r.overdue]
    notices = [[when(c.ts, tz), c.call] for c in r.notice_missing]
    transfers = [[LINES.get(line, line), str(n),
                   ", ".join(f"{k} {v}" for k, v in r.transfer_results.get(line, {}).items())]
                 for line, n in r.transfers.items()]
    comments = [[when(c.ts, tz), dept_name(c.dept, names), str(c.score), c.agent or "–",
                 c.comment] for c in r.comments]
    made = when(generated, tz) if generated else when(r.as_of, tz)
    charts_top = figure(
        "hours", f"Calls and service level by hour ({tz.key})",
        chart_hours(r, tz) if any(x.offered for x in r.by_hour.values()) else "",
        *hours_rows(r))
    chart_wait = figure("waits", "How long callers waited",
                        chart_waits(r) if r.visits else "", *waits_rows(r))
    chart_depts = figure("departments", "By department", chart_departments(r, names),
                         *departments_rows(r, names)) if any(
        x.offered for x in r.by_department.values()) else ""
    chart_scores = figure("feedback", "Caller feedback", chart_feedback(r), *feedback_rows(r))
    parts = [
        f"<h1>Customer Service Standard report</h1><p class=sub>Colchester Borough Council · "
        f"{escape(period(r, tz))} ({escape(tz.key)}) · {escape(scope)} · figures as of "
        f"{escape(when(r.as_of, tz))}</p>",
        f'<section class="tiles">{tiles}</section>',
        "<h2>Queues</h2>",
        f'<div class="grid"><div class="card">{charts_top}</div>'
        f'<div class="card">{chart_wait}</div></div>',
        '<div class="grid" style="margin-top:16px"><div>'
        + _table(["Figure", "Value"], queue_rows, "") + "</div>"
        + (f'<div class="card">{chart_depts}</div>' if chart_depts else "") + "</div>",
        "<h2>By department</h2>",
        _table(["Department", "Offered", "Answered", "SL", "SL2", "Hung up", "Voicemail at "
                "limit", "2-min promise", "Callbacks on time", "FCR", "Score"], dept_rows,
               "No calls."),
        f"<h2>2-minute promise: exceptions ({len(misses)})</h2>",
        _table(["Entered queue", "Department", "Call SID", "What happened"], misses,
               "Every queued caller was answered or offered voicemail in time."),
        f"<h2>Callbacks not made by the due time ({len(overdue)})</h2>",
        _table(["Task", "Department", "Voicemail", "Due", "Status", "Closed", "What happened"],
               overdue, "Every callback was made by the close of the next working day."),
        f"<h2>Recording notice not played ({len(notices)})</h2>",
        _table(["Arrived", "Call SID"], notices, "Every inbound call heard the notice."),
        "<h2>Transfers and online</h2>",
        _table(["Line", "Transfers", "Outcome (DialCallStatus)"], transfers, "No transfers."),
        f"<p>Told about online services: <b>{r.online}</b> · offered a text: "
        f"<b>{r.sms_offered}</b> · asked for a text: <b>{r.sms_requested}</b> · SMS links "
        f"sent (accepted by Twilio): <b>{r.sms_links}</b> · delivered: <b>{r.sms_delivered}</b>"
        f" · SMS failed: <b>{r.sms_failed}</b>"
        " · voicemails: "
        f"<b>{r.voicemails}</b> ({r.voicemails_merged} joined an open callback) · inbound calls "
        f"out of hours: <b>{r.out_of_hours}</b> · fail-safe routings: <b>{r.failsafes}</b></p>",
        "<h2>After the call</h2>",
        f'<div class="grid"><div class="card narrow">{chart_scores}</div><div>'
        f"<p>First-contact resolution: <b>{pct(r.fcr)}</b> ({r.resolved} of {r.wrapups} "
        f"wrap-ups).</p><p>Spoken comments: <b>{len(comments)}</b></p></div></div>",
        _table(["When", "Department", "Score", "Agent", "Comment recording"], comments,
               "No spoken comments."),
        f'<p class="foot">SL: answered within {r.limit} s / offered. SL2: Asterisk app_queue '
        f"ServicelevelPerf2, (answered + hung up, within {r.limit} s) / (answered + hung up). "
        f"2-minute promise: answered or taken to voicemail within {r.limit} s + "
        f"{r.tolerance} s tolerance; callers who hung up sooner are not counted. Tiles: green "
        f"at or above the target shade, amber close, red below. Generated {escape(made)} "
        f"from the call events.</p>",
    ]
    title = escape(f"Customer Service Standard report: {period(r, tz)}")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}'
            f'</title><meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<style>{CSS}</style></head><body><a class="skip" href="#main">Skip to the '
            f'report</a><main id="main" tabindex="-1">{"".join(parts)}</main></body></html>\n')
