"""Callbacks worklist pages: see the tasks, ring a resident back, record what happened.

"Call back" rings the agent's own phone first (REST ``calls.create`` through ``twilio_rest``);
when they answer, the bridge document dials the resident with the council's caller ID and the
recorded-call announcement, and the dial's result is its attempt. The dial is started (claim
and marker, in one script) before Twilio is asked, so pressing twice places one call, and none
while a call of the task is on or before the retry gap. "Record outcome" is for a call made
from another phone (no dial result can come): only the claim's holder (or a supervisor, noted
as such) may, and the script refuses it while a dial's result is pending or already logged.
Refusals are flashed on the page with 403 (another advisor's callback) or 409 (its state);
what an action did is said on its card (``CARD_NOTE`` in the session, shown once). The list is
filtered, sorted and paged (``worklist_view``) by a form whose choices stay in the session
(a number searched for never appears in a URL); each card's call progress is polled from
``callbacks/progress.json``.
Voicemails play through ``/console/recording/<sid>``, which checks the viewer may see the task
and streams the audio itself: Twilio's URLs never reach a browser.
"""

from __future__ import annotations

import io
import logging

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from twilio.base.exceptions import TwilioException

from flows.agent_callbacks import audit_dial, new_dial, start_click_to_call
from ivr import agents, twilio_rest
from ivr.console import worklist_view
from ivr.console.base import (
    bp,
    ivr,
    may_see,
    now,
    user,
    visible_departments,
    voicemail_played,
    when,
)
from ivr.console.work import (
    CONSOLE_OUTCOMES,
    OUTCOME_LABELS,
    RECORDING_SID,
    TASK_ID,
    console_turn,
    load_rows,
    log_manual_outcome,
    on_calls,
    progress,
    visible_task,
    worklist,
)
from ivr.phone import mask
from voicemail import callbacks
from voicemail.callbacks import Outcome, Refusal
from voicemail.tasks import RECORDING, TASK

log = logging.getLogger(__name__)


FILTERS = "worklist"  # session: the worklist's filters
CARD_NOTE = "card_note"  # session: what the last action did, said on its card once
PROGRESS_POLL_MS = 3000
MAX_PROGRESS_IDS = 50


def _filters() -> worklist_view.Filters:
    departments = visible_departments(ivr().config, user())
    return worklist_view.parse(session.get(FILTERS) or {}, departments)


@bp.get("/callbacks")
def callbacks_page():
    """Overdue, due, scheduled and recently closed callbacks of the viewer's departments,
    filtered, sorted and paged as the viewer chose."""
    work = worklist(user(), now())
    filters = _filters()
    page = worklist_view.page_of({name: getattr(work, name)
                                  for name in worklist_view.SECTIONS}, filters)
    departments = visible_departments(ivr().config, user())
    return render_template(
        "console/callbacks.html", page=page, filters=filters, departments=departments,
        show_choices=worklist_view.SHOW, orders=worklist_view.ORDERS,
        note=session.pop(CARD_NOTE, None), poll_ms=PROGRESS_POLL_MS,
        outcomes=[(str(o), OUTCOME_LABELS[o]) for o in CONSOLE_OUTCOMES])


@bp.post("/callbacks")
def filter_callbacks():
    """Keep the worklist's filters (department, what to show, number, order, page)."""
    form = request.form.to_dict()
    if "clear" in form:
        form = {}
    elif "go_page" in form:  # the paging buttons: the filters as they are, another page
        form = {k: str(v) for k, v in (session.get(FILTERS) or {}).items()}
        form["page"] = request.form.get("go_page", "1")
    else:
        form["page"] = "1"  # new filters start at the first page
    filters = worklist_view.parse(form, visible_departments(ivr().config, user()))
    session[FILTERS] = filters.as_dict()
    return redirect(url_for("console.callbacks_page", _anchor="worklist"))


@bp.get("/callbacks/progress.json")
def callbacks_progress():
    """Each listed card's call progress (ringing the advisor, calling the resident, the last
    attempt's result), for the worklist to show without a reload."""
    ids = [x for x in request.args.get("ids", "").split(",") if TASK_ID.fullmatch(x)]
    viewer = user()
    staff = agents.all_agents(ivr().redis) if ids else []
    names = {a.id: a.name for a in staff}
    calls = on_calls(staff)
    rows = load_rows(ids[:MAX_PROGRESS_IDS], now(), names) if ids else []
    return jsonify({row.id: {"progress": progress(row, viewer.id, names, calls),
                             "dialling": bool(row.dialling), "status": row.status}
                    for row in rows if may_see(ivr().config, viewer, row.department)})


def _note(task_id: str, message: str, kind: str = "ok") -> None:
    session[CARD_NOTE] = {"task": task_id, "text": message, "kind": kind}


def _back(task_id: str = ""):
    return redirect(url_for("console.callbacks_page", _anchor=f"task-{task_id}" if task_id
                            else None))


def _refuse(message: str, status: int):
    """The worklist again, with why nothing was done, and the status saying so."""
    flash(message, "error")
    return callbacks_page(), status


def _name(agent_id: str) -> str:
    found = agents.get(ivr().redis, agent_id) if agent_id else None
    return found.name if found else "Another advisor"


def _refused(reason: Refusal, who: str, task: dict[str, str], *, recording: bool):
    """What a refused Call back (or outcome, ``recording``) tells the advisor: 403 when the
    callback is another advisor's, 409 when its state forbids it now."""
    if reason is Refusal.CLAIMED:
        if recording:
            return _refuse(f"{_name(who)} is working on that callback: only they, or a "
                           "supervisor, can record its outcome.", 403)
        return _refuse(f"{_name(who)} is working on that callback right now.", 403)
    if reason is Refusal.DIALLING:
        whose = "your" if who == user().id else f"{_name(who)}'s"
        return _refuse(f"A call to that resident ({whose}) is in progress: its result is "
                       "logged when it ends, so there is nothing to record or dial now.", 409)
    if reason is Refusal.TOO_SOON:
        return _refuse("The last attempt is logged; the next one can be made from "
                       f"{when(task.get('next_attempt_at'))}.", 409)
    if reason is Refusal.CHANGED:
        return _refuse("That callback changed since you loaded the page (an attempt was "
                       "logged): check it before recording anything.", 409)
    return _refuse("That callback is already closed.", 409)


@bp.post("/callbacks/<task_id>/call")
def call_back(task_id: str):
    """Ring the agent's phone; answering bridges them to the resident (flows.agent_callbacks)."""
    agent = user()
    task = visible_task(agent, task_id)
    if not task:
        abort(404)
    if not agent.phone:
        _note(task_id, "You have no phone number on your agent record, so the console cannot "
              "ring you. Ask a supervisor to add one.", "error")
        return _back(task_id)
    if task.get("status") != "open" or not task.get("number"):
        return _refuse("That callback is not open, or has no number to call.", 409)
    app = ivr()
    r = app.redis
    dial = new_dial()
    pipe = r.pipeline(transaction=False)
    parse = callbacks.hold(pipe, task_id, index_key="", agent_id=agent.id, take=True,
                           now=now(), dial=dial)  # as the phone does: claim, gap, one dial
    held = parse(pipe.execute()[0])
    if not held.held:
        return _refused(held.reason, held.who, held.task or task, recording=False)
    try:
        call_sid = start_click_to_call(agent, task_id, app.config.council.main_number, dial)
    except (TwilioException, twilio_rest.TwilioNotConfigured, OSError) as exc:
        callbacks.end_dial(r, task_id, dial)
        log.warning("console: click-to-call for task %s by agent %s failed: %s", task_id,
                    agent.id, exc)
        _note(task_id, "The call could not be started; please try again in a moment.", "error")
        return _back(task_id)
    turn = console_turn()
    batch = turn.batch()
    batch.op(lambda p: callbacks.note_dial_call(p, task_id, dial, call_sid))
    audit_dial(turn, batch, agent, held.task, "console", call_sid)
    batch.commit("console dial")
    log.info("console: agent %s rings %s back (task %s, call %s)", agent.id,
             mask(task.get("number")), task_id, call_sid)
    _note(task_id, "Your phone is ringing: answer it to be connected to the resident.")
    return _back(task_id)


@bp.post("/callbacks/<task_id>/outcome")
def record_outcome(task_id: str):
    """A call made from another phone, recorded by hand (no dial result can come): answered
    closes the task; no answer or busy waits for another try, up to the limit."""
    agent = user()
    task = visible_task(agent, task_id)
    if not task:
        abort(404)
    try:
        outcome = Outcome(request.form.get("outcome", ""))
    except ValueError:
        abort(400, "Choose an outcome.")
    if outcome not in CONSOLE_OUTCOMES:
        abort(400, "Choose an outcome.")
    try:
        attempt = int(request.form.get("attempt", ""))
    except ValueError:
        abort(400, "Your form was out of date or incomplete; reload the page and try again.")
    if attempt < 1:
        abort(400, "Your form was out of date or incomplete; reload the page and try again.")
    if task.get("status") != "open":
        return _refuse("That callback is already closed.", 409)
    found = log_manual_outcome(console_turn(), agent, task_id, outcome, expected=attempt - 1)
    if not found.logged:
        log.info("console: outcome %s on task %s by agent %s refused (%s)", outcome, task_id,
                 agent.id, found.reason)
        return _refused(found.reason, found.who, task, recording=True)
    max_attempts = ivr().config.callbacks_work.max_attempts
    note = f" Recorded as supervisor, over {_name(found.who)}'s claim." if found.who else ""
    _note(task_id, {
        "done": "Callback done.",
        "unreachable": f"No answer after {found.count} attempts: closed as unreachable.",
    }.get(found.status, f"Attempt {found.count} of {max_attempts} logged; the callback stays "
                        "open.") + note)
    return _back(task_id)


@bp.get("/recording/<sid>")
def recording(sid: str):
    """A voicemail's audio, for signed-in agents who may see its task, fetched via REST."""
    if not RECORDING_SID.fullmatch(sid):
        abort(404)
    r = ivr().redis
    task_id = r.hget(RECORDING.format(id=sid), "task")
    dept = r.hget(TASK.format(id=task_id.decode()), "department") if task_id else None
    if dept is None or not may_see(ivr().config, user(), dept.decode()):
        abort(404)
    try:
        audio, content_type = twilio_rest.fetch_recording(sid)
    except (TwilioException, twilio_rest.TwilioNotConfigured, OSError) as exc:
        log.warning("console: recording %s could not be fetched: %s", sid, exc)
        abort(502, "The recording could not be fetched from Twilio just now.")
    response = send_file(io.BytesIO(audio), mimetype=content_type, conditional=True,
                         download_name=f"{sid}.mp3", etag=False, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    voicemail_played(sid, task_id.decode())
    return response
