"""Advisor call recordings: where the service learns each one's SID, to delete it in time.

A ``<Dial record>`` (a queued caller taken, a callback rung) reports its recording through
Twilio's ``recordingStatusCallback``; the Dial action's ``RecordingUrl`` may come before the
file exists, or not at all when the line drops. The callback schedules the deletion at Twilio
``recording.keep_advisor_calls`` seconds later (``ivr.recordings``); nothing else is stored.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, request

from flows.common import Turn, external
from ivr import recordings
from ivr.twiml import empty

bp = Blueprint("recordings", __name__)

_SID_IN_URL = re.compile(r"/Recordings/(RE[0-9a-fA-F]{32})")


def advisor_recording(turn: Turn) -> dict[str, Any]:
    """The ``<Dial>`` attributes that record an advisor call and report its recording."""
    return {
        "record": turn.config.recording.advisor_leg,
        "recording_status_callback": external("recordings.advisor_ready"),
        "recording_status_callback_event": "completed",
    }


def reported_sid() -> str:
    """The recording's SID from a recording callback (from its URL if the SID is missing)."""
    sid = request.values.get("RecordingSid", "") or ""
    if not sid and (found := _SID_IN_URL.search(request.values.get("RecordingUrl", "") or "")):
        sid = found.group(1)
    return sid


@bp.post("/voice/recording/advisor")
def advisor_ready():
    """recordingStatusCallback of an advisor call's <Dial record>: schedule its deletion."""
    turn = Turn.begin()
    sid = reported_sid()
    if request.values.get("RecordingStatus", "completed") == "completed" and sid:
        at = turn.now.timestamp() + turn.config.recording.keep_advisor_calls
        batch = turn.batch()
        recordings.schedule_deletion(batch, turn.ivr.callbacks, sid, at,
                                     recordings.Kind.ADVISOR_CALL)
        batch.commit("advisor recording")
    return empty()
