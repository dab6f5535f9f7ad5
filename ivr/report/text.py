"""The report as plain text (for a terminal or an e-mail) and as CSV (for a spreadsheet).

Only presentation: every number comes from ``ivr.report.compute``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from ivr.report import LONDON, Report

NO_DEPARTMENT = "Not routed to a department"


def pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f}%"


def seconds(n: float | None) -> str:
    if n is None:
        return "–"
    n = round(n)
    return f"{n} s" if n < 60 else f"{n // 60} min {n % 60:02d} s"


def when(ts: float | None, tz: ZoneInfo = LONDON) -> str:
    return "–" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%a %d %b %H:%M")


def period(report: Report, tz: ZoneInfo = LONDON) -> str:
    if report.start is None or report.end is None:
        return "all events"
    first = datetime.fromtimestamp(report.start, tz)
    last = datetime.fromtimestamp(report.end - 1, tz)
    fmt = "%A %-d %B %Y"
    if first.date() == last.date():
        return first.strftime(fmt)
    return f"{first.strftime(fmt)} to {last.strftime(fmt)}"


def dept_name(dept: str, names: Mapping[str, str]) -> str:
    return names.get(dept, dept) if dept else NO_DEPARTMENT


def ratio(part: int, whole: int) -> str:
    return f"{part} of {whole}"


# One row of the CSV, and the columns of the text tables: (header, value).
COLUMNS: list[tuple[str, Callable[[Report], object]]] = [
    ("offered", lambda r: r.offered),
    ("answered", lambda r: r.answered),
    ("answered_within_limit", lambda r: r.answered_within),
    ("service_level", lambda r: _num(r.service_level)),
    ("service_level2", lambda r: _num(r.service_level2)),
    ("abandoned", lambda r: r.abandoned),
    ("abandoned_within_limit", lambda r: r.abandoned_within),
    ("voicemail_at_limit", lambda r: r.timed_out),
    ("queue_full", lambda r: r.full),
    ("queue_error", lambda r: r.errors),
    ("no_agents", lambda r: r.no_agents),
    ("longest_wait_s", lambda r: r.longest_wait),
    ("mean_wait_answered_s", lambda r: _num(r.mean_wait, 1)),
    ("promise_2min_kept", lambda r: r.promise_kept),
    ("promise_2min_counted", lambda r: r.promise_counted),
    ("promise_2min_share", lambda r: _num(r.promise_share)),
    ("short_abandons_not_counted", lambda r: r.short_abandons),
    ("voicemails", lambda r: r.voicemails),
    ("callbacks", lambda r: r.callbacks),
    ("callbacks_kept", lambda r: r.callbacks_kept),
    ("callbacks_counted", lambda r: r.callbacks_counted),
    ("callbacks_share", lambda r: _num(r.callback_share)),
    ("callbacks_overdue", lambda r: len(r.overdue)),
    ("callbacks_pending", lambda r: r.callbacks_pending),
    ("callbacks_answered_by_hand", lambda r: r.callbacks_by_hand),
    ("inbound_calls", lambda r: r.inbound),
    ("recording_notice_played", lambda r: r.notice_played),
    ("recording_notice_share", lambda r: _num(r.notice_share)),
    ("out_of_hours", lambda r: r.out_of_hours),
    ("payment_transfers", lambda r: r.transfers.get("payment", 0)),
    ("text_phone_transfers", lambda r: r.transfers.get("text_phone", 0)),
    ("sent_online", lambda r: r.online),
    ("sms_links", lambda r: r.sms_links),
    ("sms_delivered", lambda r: r.sms_delivered),
    ("sms_requested", lambda r: r.sms_requested),
    ("sms_failed", lambda r: r.sms_failed),
    ("wrapups", lambda r: r.wrapups),
    ("resolved_first_contact", lambda r: r.resolved),
    ("fcr", lambda r: _num(r.fcr)),
    ("feedback_count", lambda r: r.feedback_count),
    ("feedback_mean", lambda r: _num(r.feedback_mean, 2)),
] + [(f"feedback_{s}", lambda r, s=s: r.feedback_scores.get(s, 0)) for s in range(1, 6)]


def _num(value: float | None, places: int = 4) -> str:
    return "" if value is None else f"{value:.{places}f}"


def render_csv(report: Report, names: Mapping[str, str], tz: ZoneInfo = LONDON) -> str:
    """One row for the whole period, then one per department and one per hour of the day."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["scope", "key", "name"] + [c[0] for c in COLUMNS])
    scope = report.department or ""
    w.writerow(["total", scope, dept_name(scope, names) if scope else "All departments"]
               + [c[1](report) for c in COLUMNS])
    for dept, r in report.by_department.items():
        w.writerow(["department", dept, dept_name(dept, names)] + [c[1](r) for c in COLUMNS])
    for hour, r in report.by_hour.items():
        w.writerow(["hour", f"{hour:02d}", f"{hour:02d}:00-{hour:02d}:59"]
                   + [c[1](r) for c in COLUMNS])
    return out.getvalue()


def _line(label: str, value: str, note: str = "") -> str:
    return f"  {label:<38}{value:>9}  {note}".rstrip()


def _table(header: list[str], rows: list[list[str]], first: int) -> list[str]:
    widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
    widths[0] = max(widths[0], first)

    def fmt(row: list[str]) -> str:
        tail = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        cells = [row[0].ljust(widths[0]), *tail]
        return "  " + "  ".join(cells)

    return [fmt(header)] + [fmt(r) for r in rows]


def _split_rows(report: Report) -> list[str]:
    return [str(report.offered), str(report.answered), pct(report.service_level),
            pct(report.service_level2), str(report.abandoned), str(report.timed_out),
            seconds(report.longest_wait) if report.offered else "–",
            pct(report.promise_share), pct(report.callback_share), pct(report.fcr),
            f"{report.feedback_mean:.1f}" if report.feedback_mean else "–"]


SPLIT_HEADER = ["Offered", "Answered", "SL", "SL2", "Aband.", "VM@limit", "Longest",
                "2-min", "Callback", "FCR", "Score"]


def render_text(report: Report, names: Mapping[str, str], tz: ZoneInfo = LONDON) -> str:
    r = report
    limit = f"{r.limit} s"
    scope = dept_name(r.department, names) if r.department else "All departments"
    lines = [
        "Colchester Borough Council - Customer Service Standard report",
        f"{period(r, tz)} ({tz.key}). {scope}. Figures as of {when(r.as_of, tz)}.",
        "",
        "PROMISES",
        _line(f"Answered or voicemail within {r.limit + r.tolerance} s", pct(r.promise_share),
              f"{ratio(r.promise_kept, r.promise_counted)} queued callers; "
              f"{r.short_abandons} hung up sooner, not counted"),
        _line("Called back by the next working day", pct(r.callback_share),
              f"{ratio(r.callbacks_kept, r.callbacks_counted)} callbacks; "
              f"{r.callbacks_pending} not yet due"),
        _line("Recording notice played", pct(r.notice_share),
              f"{ratio(r.notice_played, r.inbound)} inbound calls"),
        "",
        f"QUEUES (limit {limit})",
        _line("Offered (entered a queue)", str(r.offered),
              f"{r.waiting} still waiting" if r.waiting else ""),
        _line("Answered", str(r.answered), pct(r.answered / r.offered if r.offered else None)),
        _line(f"Answered within {limit}", str(r.answered_within),
              f"service level (SL) {pct(r.service_level)}"),
        _line("SL2 (short abandons as served)", pct(r.service_level2),
              "Asterisk ServicelevelPerf2"),
        _line("Abandoned (hung up queuing)", str(r.abandoned),
              f"{r.abandoned_within} within {limit}"),
        _line("Sent to voicemail at the limit", str(r.timed_out)),
        _line("Queue full / queue error", f"{r.full} / {r.errors}"),
        _line("No advisor signed in (voicemail)", str(r.no_agents)),
        _line("Longest wait", seconds(r.longest_wait)),
        _line("Mean wait (answered)", seconds(r.mean_wait)),
        "",
        "CALLS",
        _line("Inbound calls", str(r.inbound), f"{r.out_of_hours} out of hours"),
    ]
    for line, label in (("payment", "Payment line transfers"), ("text_phone", "Text phone "
                                                                               "transfers")):
        results = ", ".join(f"{k} {v}" for k, v in r.transfer_results.get(line, {}).items())
        lines.append(_line(label, str(r.transfers.get(line, 0)), results))
    lines += [
        _line("Told about online services", str(r.online),
              f"{r.sms_offered} offered a text, {r.sms_requested} asked, "
              f"{r.sms_links} SMS links sent (accepted by Twilio), {r.sms_delivered} "
              f"delivered, {r.sms_failed} failed"),
        _line("Voicemails", str(r.voicemails), f"{r.voicemails_merged} joined an open callback"),
        _line("Callbacks", str(r.callbacks), f"{r.callbacks_answered} answered"
              + (f" ({r.callbacks_by_hand} recorded by hand)" if r.callbacks_by_hand else "")
              + f", {r.callbacks_unreachable} unreachable, "
              f"{r.callbacks - r.callbacks_answered - r.callbacks_unreachable} open"),
        _line("Fail-safe routings", str(r.failsafes)),
        "",
        "AFTER THE CALL",
        _line("First-contact resolution", pct(r.fcr), f"{ratio(r.resolved, r.wrapups)} wrap-ups"),
        _line("Feedback average (1-5)", f"{r.feedback_mean:.2f}" if r.feedback_mean else "–",
              f"{r.feedback_count} scores: " + "  ".join(
                  f"{s}: {r.feedback_scores.get(s, 0)}" for s in range(1, 6))),
        _line("Spoken comments", str(len(r.comments))),
    ]
    if r.by_department:
        lines += ["", "BY DEPARTMENT"] + _table(
            ["Department", *SPLIT_HEADER],
            [[dept_name(d, names), *_split_rows(x)] for d, x in r.by_department.items()
             if d or x.offered or x.callbacks], 26)
    if r.by_hour:
        lines += ["", f"BY HOUR OF THE DAY ({tz.key})"] + _table(
            ["Hour", *SPLIT_HEADER],
            [[f"{h:02d}:00", *_split_rows(x)] for h, x in r.by_hour.items()], 26)
    lines += ["", f"EXCEPTIONS: 2-MINUTE PROMISE ({len(r.misses)})"]
    lines += [f"  {when(m.visit.ts, tz)}  {dept_name(m.visit.dept, names):<17} "
              f"{m.visit.call:<36} {m.what}" for m in r.misses] or ["  none"]
    lines += ["", f"EXCEPTIONS: CALLBACKS NOT MADE BY THE DUE TIME ({len(r.overdue)})"]
    lines += [f"  task {o.task.task:<14} {dept_name(o.task.dept, names):<17} "
              f"due {when(o.task.due_at, tz)}  closed {when(o.task.closed_at, tz)}  {o.what}"
              for o in r.overdue] or ["  none"]
    lines += ["", f"EXCEPTIONS: RECORDING NOTICE NOT PLAYED ({len(r.notice_missing)})"]
    lines += [f"  {when(c.ts, tz)}  {c.call}" for c in r.notice_missing] or ["  none"]
    lines += ["", f"SPOKEN COMMENTS ({len(r.comments)})"]
    lines += [f"  {when(c.ts, tz)}  {dept_name(c.dept, names):<17} score {c.score}  "
              f"agent {c.agent or '–':<5} recording {c.comment}" for c in r.comments] or ["  none"]
    return "\n".join(lines) + "\n"
