"""The plan as one self-contained HTML page: per day a chart of advisors per half hour by
Erlang C and Erlang A over the forecast calls, and the same figures as a table, which is the
chart's text alternative (the chart's ``aria-describedby`` points at it)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ivr.report.html import CSS, LINE, VOICEMAIL, _render, _table
from ivr.staffing.recommend import clock
from ivr.staffing.text import HEADER, SIM_HEADER, DayPlan, Plan, rows, sim_rows, target_text

CALLS = "#cfd8e3"


def _chart(day: DayPlan) -> Figure:
    fig = Figure(figsize=(7.6, 3.4))
    ax = fig.subplots()
    slots = [p.slot for p in day.plans]
    ax.bar(slots, [p.calls for p in day.plans], width=0.8, color=CALLS,
           label="Calls forecast (per half hour)")
    ax.set_ylabel("Calls per half hour")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    staff = ax.twinx()
    staff.step(slots, [p.erlang_c for p in day.plans], where="mid", color=VOICEMAIL,
               linewidth=2, label="Advisors, Erlang C")
    staff.step(slots, [p.erlang_a for p in day.plans], where="mid", color=LINE, linewidth=2.4,
               label="Advisors, Erlang A with the cut-off")
    staff.set_ylim(0, max([p.erlang_c for p in day.plans] + [1]) + 1)
    staff.yaxis.set_major_locator(MaxNLocator(integer=True))
    staff.set_ylabel("Advisors")
    staff.spines["right"].set_visible(True)
    ticks = slots[::2] if len(slots) > 12 else slots
    ax.set_xticks(ticks, [clock(s) for s in ticks])
    handles = ax.get_legend_handles_labels()[0] + staff.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=9,
               bbox_to_anchor=(0.5, -0.08))
    ax.set_title(f"{day.title}: calls and advisors", loc="left", fontweight="bold")
    return fig


def _section(i: int, day: DayPlan) -> str:
    name = f"day{i}"
    svg = _render(name, _chart, day).replace(
        "<svg ", f'<svg role="img" aria-label="{escape(day.title)}: calls and advisors per '
        f'half hour" aria-describedby="{name}-table" ', 1)
    a_hours = sum(p.erlang_a for p in day.plans) / 2
    c_hours = sum(p.erlang_c for p in day.plans) / 2
    parts = [f"<h2>{escape(day.title)}</h2>",
             f"<p class=sub>{escape(day.note)} · advisor-hours: Erlang C <b>{c_hours:g}</b>, "
             f"Erlang A <b>{a_hours:g}</b></p>",
             f'<div class="card">{svg}</div>',
             f'<div id="{name}-table" style="margin-top:12px">'
             + _table(list(HEADER), [list(r) for r in rows(day)], "No calls forecast.")
             + "</div>"]
    if day.simulated:
        parts += ["<p>Simulated through the webhooks, staffed per hour by Erlang A:</p>",
                  _table(list(SIM_HEADER), [list(r) for r in sim_rows(day)], "")]
    return "".join(parts)


def render(plan: Plan, generated: float) -> str:
    """The page: what was measured, the target and the models, then each day."""
    made = datetime.fromtimestamp(generated, UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"<h1>Staffing plan</h1><p class=sub>Colchester Borough Council · from "
            f"{escape(plan.source)} · generated {escape(made)}</p>",
            "<ul>" + "".join(f"<li>{escape(m)}</li>" for m in plan.measured) + "</ul>",
            f"<p><b>Target:</b> {escape(target_text(plan.target))}.</p>",
            "<p>Erlang C keeps every caller waiting until answered. Erlang A lets callers hang "
            "up (mean patience "
            + ("infinite" if plan.patience is None else f"{plan.patience:.0f} s")
            + f") and takes those still waiting at {plan.target.limit} s to voicemail, as "
            "the service does; its figures are at its own staffing.</p>"]
    body = head + [_section(i, day) for i, day in enumerate(plan.days)]
    title = escape(f"Staffing plan from {plan.source}")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}'
            f'</title><meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<style>{CSS}</style></head><body><main>{''.join(body)}</main></body></html>\n")
