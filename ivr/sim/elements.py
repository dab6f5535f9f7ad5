"""What the verb interpreters share about TwiML elements: their text, and a kept recording.

Below ``verbs`` (which runs a document), ``dial`` and ``queues`` (which run ``<Dial>`` and
``<Enqueue>`` and, for a whisper or a waitUrl, a nested document through
``Engine.run_document``), so none of them imports another in a circle.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivr.sim.engine import Engine
    from ivr.sim.legs import Leg
    from ivr.sim.webhooks import Doc


def text_of(el: ET.Element) -> str:
    return " ".join("".join(el.itertext()).split())


def recorded(engine: Engine, leg: Leg, el: ET.Element, doc: Doc, sid: str, url: str,
              seconds: int, started: float, rfc2822: Any, source: str = "RecordVerb",
              channels: str = "1", notice: str = "recorded") -> None:
    """Keep the recording and schedule its status callback(s), as Twilio does later
    (``source``/``channels``: a ``<Dial record>`` reports ``DialVerb``, 2 when dual)."""
    engine.recordings[sid] = seconds
    engine.recording_info[sid] = {"call_sid": leg.sid, "date_created": started + seconds,
                                  "duration": seconds, "source": source,
                                  "status": "completed" if seconds > 0 else "absent"}
    if engine.rest is not None and seconds > 0:  # the media, for the app to fetch like Twilio's
        engine.rest.recordings[sid] = b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(seconds * 16)
    engine.notify(leg, notice, sid, seconds=seconds)
    callback = el.get("recordingStatusCallback")
    status = "completed" if seconds > 0 else "absent"
    events = set((el.get("recordingStatusCallbackEvent") or "completed").split())
    if not callback or status not in events:
        return
    params = {"AccountSid": engine.account_sid, "CallSid": leg.sid, "RecordingSid": sid,
              "RecordingUrl": url, "RecordingStatus": status, "RecordingDuration": str(seconds),
              "RecordingChannels": channels, "RecordingSource": source,
              "RecordingStartTime": rfc2822(started)}
    target = engine.resolve(doc.url, callback)
    method = el.get("recordingStatusCallbackMethod", "POST")
    for n in range(max(1, engine.fidelity.recording_callbacks)):
        engine.clock.later(engine.fidelity.recording_callback_delay * (n + 1), engine.callback,
                           leg, target, method, params, False)
