"""Callbacks worklist pages: see the tasks, ring a resident back, record what happened.

"Call back" rings the agent's own phone first (REST ``calls.create`` through ``twilio_rest``);
when they answer, the bridge document dials the resident with the council's caller ID and the
recorded-call announcement. Voicemails play through ``/console/recording/<sid>``, which checks
the viewer may see the task and streams the audio itself: Twilio's URLs never reach a browser.
"""

from __future__ import annotations

import io
import logging

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from twilio.base.exceptions import TwilioException

from flows.agent_callbacks import start_click_to_call
from ivr import twilio_rest
from ivr.console.base import bp, ivr, may_see, now, user
from ivr.console.work import (
    CONSOLE_OUTCOMES,
    OUTCOME_LABELS,
    RECORDING_SID,
    console_turn,
    log_attempt,
    visible_task,
    worklist,
)
from ivr.phone import mask
from voicemail.callbacks import Outcome, hold, release_claim
from voicemail.tasks import RECORDING, TASK

log = logging.getLogger(__name__)

@bp.get("/callbacks")
def callbacks_page():
    """Overdue, due, scheduled and recently closed callbacks of the viewer's departments."""
    return render_template("console/callbacks.html", work=worklist(user(), now()),
                           outcomes=[(str(o), OUTCOME_LABELS[o]) for o in CONSOLE_OUTCOMES])


def _back():
    return redirect(url_for("console.callbacks_page"))


@bp.post("/callbacks/<task_id>/call")
def call_back(task_id: str):
    """Ring the agent's phone; answering bridges them to the resident (flows.agent_callbacks)."""
    agent = user()
    task = visible_task(agent, task_id)
    if not task:
        abort(404)
    if not agent.phone:
        flash("You have no phone number on your agent record, so the console cannot ring you. "
              "Ask a supervisor to add one.", "error")
        return _back()
    if task.get("status") != "open" or not task.get("number"):
        flash("That callback is not open, or has no number to call.", "error")
        return _back()
    r = ivr().redis
    pipe = r.pipeline(transaction=False)
    parse = hold(pipe, task_id, index_key="", agent_id=agent.id, take=True)  # as the phone does
    if not parse(pipe.execute()[0]).held:
        flash("Another agent is working on that callback right now.", "error")
        return _back()
    try:
        call_sid = start_click_to_call(agent, task_id, ivr().config.council.main_number)
    except (TwilioException, twilio_rest.TwilioNotConfigured, OSError) as exc:
        release_claim(r, task_id, agent.id)
        log.warning("console: click-to-call for task %s by agent %s failed: %s", task_id,
                    agent.id, exc)
        flash("The call could not be started; please try again in a moment.", "error")
        return _back()
    log.info("console: agent %s rings %s back (task %s, call %s)", agent.id,
             mask(task.get("number")), task_id, call_sid)
    flash("Your phone is ringing: answer it to be connected to the resident.", "ok")
    return _back()


@bp.post("/callbacks/<task_id>/outcome")
def record_outcome(task_id: str):
    """Answered closes the task; no answer or busy waits for another try, up to the limit."""
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
    if task.get("status") != "open":
        flash("That callback is already closed.", "error")
        return _back()
    status, count = log_attempt(console_turn(), agent, task_id, outcome)
    max_attempts = ivr().config.callbacks_work.max_attempts
    flash({
        "done": "Callback done.",
        "unreachable": f"No answer after {count} attempts: closed as unreachable.",
    }.get(status, f"Attempt {count} of {max_attempts} logged; the callback stays open."), "ok")
    return _back()


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
    return response
