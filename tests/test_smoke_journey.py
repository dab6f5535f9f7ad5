"""A first end-to-end pass: ring in hours, choose council tax, hold, time out, leave a message."""

from __future__ import annotations

import time_machine

from voicemail.tasks import load_task

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday, 10:00 GMT


@time_machine.travel(OPEN, tick=False)
def test_council_tax_caller_times_out_and_leaves_voicemail(caller, redis_client):
    doc = caller.ring()
    assert doc.text.startswith("Thank you for calling")
    assert "Calls may be recorded for training and monitoring purposes." in doc.text
    doc = caller.press("2")
    assert doc.verbs == ["Redirect"]
    doc = caller.follow()
    assert "council tax" in doc.text.lower()
    doc = caller.press("9")  # not the text offer: straight to the queue
    assert doc.verbs[-1] == "Enqueue"
    hold = caller.hold(0)
    assert "number 1 in the queue" in hold.text
    assert caller.hold(120).verbs == ["Leave"]
    doc = caller.leave_queue("leave", 120)
    doc = caller.follow()
    assert doc.has("Record")
    doc, rec, status_url = caller.record()
    caller.recording_ready(status_url, rec)
    caller.recording_ready(status_url, rec)
    tasks = redis_client.keys("{ivr}:cb:task:*[^s]")
    assert len(tasks) == 1
    task = load_task(redis_client, tasks[0].decode().split(":")[-1])
    assert task["number"] == "+447911123456"
    assert task["department"] == "council_tax"
