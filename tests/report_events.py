"""A fixed set of call events with hand-worked figures, shared by the report tests.

Times are Europe/London wall-clock (GMT in November and December, so equal to UTC).
Queue visits (wait in seconds; limit 120, tolerance 5):

  call  dept         entered           outcome          2-minute promise
  CA01  council_tax  Mon 23 Nov 10:00  answered 120     kept, within SL
  CA02  council_tax  Mon 23 Nov 10:05  answered 121     kept (<= 125), NOT within SL
  CA03  council_tax  Mon 23 Nov 10:10  answered 126     exception
  CA04  housing      Mon 23 Nov 14:00  hung up 30       short abandon: not counted
  CA05  housing      Mon 23 Nov 14:20  hung up 130      exception
  CA06  housing      Tue 24 Nov 09:30  voicemail 123    kept
  CA07  benefits     Tue 24 Nov 09:45  answered 45      kept, within SL
  CA08  benefits     Tue 24 Nov 15:00  queue full 0     kept (voicemail at once)
  CA09  benefits     Wed 25 Nov 11:00  no leave event   exception
  CA10  council_tax  Wed 25 Nov 11:30  hung up 120      short abandon (within SL for SL2)
  CA11  council_tax  Fri 27 Nov 16:30  voicemail 120    kept
  CA12  council_tax  Fri 27 Nov 16:40  voicemail 121    kept

Callback tasks (attempts limit 3):

  T-TUE   housing      CA06, due Wed 25 Nov 17:00, answered Wed 11:00         kept
  T-FRI1  council_tax  CA11, due Mon 30 Nov 17:00, answered Mon 16:59         kept
  T-FRI2  council_tax  CA12, due Mon 30 Nov 17:00, answered Mon 17:01         overdue
  T-UNR   general      CA14 (out of hours Tue 19:00), unreachable after 3 by Wed 12:00: kept
  T-UNR2  general      CA15 (out of hours Tue 19:30), unreachable after only 2   overdue
  T-OPEN  housing      CA16 (no agents Thu 26 Nov 10:00), never closed          overdue
          + CA17 (no agents Thu 11:00) merged into T-OPEN
  T-XMAS  general      CA13 (no agents Thu 24 Dec 15:00), due Mon 4 Jan 2027 17:00 (bank
                       holidays and the Christmas closure between), answered 4 Jan 10:00: kept
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ivr.events import Event, decode, fields

LONDON = ZoneInfo("Europe/London")


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0,
       year: int = 2026) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=LONDON).timestamp()


def entry(kind: Event, call: str, ts: float, dept: str = "", **data) -> dict[str, str]:
    """One stream entry, exactly as the call flows write it."""
    return fields(kind, call, ts, dept or None, **data)


FRI_DUE = at(11, 30, 17)
XMAS_DUE = at(1, 4, 17, year=2027)


def entries() -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def call(sid: str, ts: float, *, notice: bool = True, closed: bool = False) -> None:
        out.append(entry(Event.INCOMING, sid, ts, relay=False, callable=True, mobile=True,
                         open=not closed))
        if notice:
            out.append(entry(Event.NOTICE, sid, ts))
        if closed:
            out.append(entry(Event.OUT_OF_HOURS, sid, ts))

    def visit(sid: str, dept: str, ts: float, leave: Event | None, wait: int, **data) -> None:
        call(sid, ts - 30)
        out.append(entry(Event.MENU, sid, ts - 20, dept, key="2", action="queue", via="keys"))
        out.append(entry(Event.ENTER_QUEUE, sid, ts, dept))
        if leave is not None:
            out.append(entry(leave, sid, ts + wait, dept, wait=wait, **data))

    def voicemail(sid: str, dept: str, ts: float, task: str, due: float, merged=False) -> None:
        out.append(entry(Event.VOICEMAIL, sid, ts, dept, recording="RE" + sid, duration=20,
                         status="completed", task=task, source="record_action"))
        out.append(entry(Event.CALLBACK_MERGED if merged else Event.CALLBACK_CREATED, sid, ts,
                         dept, task=task, relay=False, has_number=True, due_at=due))

    def attempt(task: str, dept: str, ts: float, n: int, outcome: str) -> None:
        out.append(entry(Event.CALLBACK_ATTEMPT, "CAagent" + task, ts, dept, task=task,
                         agent="1001", outcome=outcome, attempt=n))

    visit("CA01", "council_tax", at(11, 23, 10, 0), Event.CONNECT, 120, agent="1001")
    visit("CA02", "council_tax", at(11, 23, 10, 5), Event.CONNECT, 121, agent="1002")
    visit("CA03", "council_tax", at(11, 23, 10, 10), Event.CONNECT, 126, agent="1001")
    visit("CA04", "housing", at(11, 23, 14, 0), Event.ABANDON, 30)
    visit("CA05", "housing", at(11, 23, 14, 20), Event.ABANDON, 130)
    visit("CA06", "housing", at(11, 24, 9, 30), Event.EXIT_TIMEOUT, 123)
    visit("CA07", "benefits", at(11, 24, 9, 45), Event.CONNECT, 45, agent="1004")
    visit("CA08", "benefits", at(11, 24, 15, 0), Event.FULL, 0)
    visit("CA09", "benefits", at(11, 25, 11, 0), None, 0)
    visit("CA10", "council_tax", at(11, 25, 11, 30), Event.ABANDON, 120)
    visit("CA11", "council_tax", at(11, 27, 16, 30), Event.EXIT_TIMEOUT, 120)
    visit("CA12", "council_tax", at(11, 27, 16, 40), Event.EXIT_TIMEOUT, 121)
    # Twilio reports a hang-up twice; a replayed spool repeats an event: counted once.
    out.append(entry(Event.ABANDON, "CA04", at(11, 23, 14, 0, 31), "housing", wait=31))

    voicemail("CA06", "housing", at(11, 24, 9, 33), "T-TUE", at(11, 25, 17))
    attempt("T-TUE", "housing", at(11, 25, 11), 1, "answered")
    out.append(entry(Event.CALLBACK_DONE, "CAagentT-TUE", at(11, 25, 11), "housing",
                     task="T-TUE", agent="1008", attempts=1))

    voicemail("CA11", "council_tax", at(11, 27, 16, 32, 30), "T-FRI1", FRI_DUE)
    attempt("T-FRI1", "council_tax", at(11, 30, 16, 59), 1, "answered")
    out.append(entry(Event.CALLBACK_DONE, "CAagentT-FRI1", at(11, 30, 16, 59), "council_tax",
                     task="T-FRI1", agent="1001", attempts=1))
    voicemail("CA12", "council_tax", at(11, 27, 16, 42, 30), "T-FRI2", FRI_DUE)
    attempt("T-FRI2", "council_tax", at(11, 30, 17, 1), 1, "answered")
    out.append(entry(Event.CALLBACK_DONE, "CAagentT-FRI2", at(11, 30, 17, 1), "council_tax",
                     task="T-FRI2", agent="1001", attempts=1))

    call("CA14", at(11, 24, 19, 0), closed=True)
    voicemail("CA14", "general", at(11, 24, 19, 1), "T-UNR", at(11, 25, 17))
    for n, hour in enumerate((10, 11, 12), start=1):
        attempt("T-UNR", "general", at(11, 25, hour), n, "no-answer")
    out.append(entry(Event.CALLBACK_UNREACHABLE, "CAagentT-UNR", at(11, 25, 12), "general",
                     task="T-UNR", attempts=3))
    call("CA15", at(11, 24, 19, 30), closed=True)
    voicemail("CA15", "general", at(11, 24, 19, 31), "T-UNR2", at(11, 25, 17))
    for n, hour in enumerate((10, 11), start=1):
        attempt("T-UNR2", "general", at(11, 25, hour), n, "busy")
    out.append(entry(Event.CALLBACK_UNREACHABLE, "CAagentT-UNR2", at(11, 25, 11), "general",
                     task="T-UNR2", attempts=2))

    for sid, minute_ts, merged in (("CA16", at(11, 26, 10), False),
                                   ("CA17", at(11, 26, 11), True)):
        call(sid, minute_ts - 30)
        out.append(entry(Event.NO_AGENTS, sid, minute_ts, "housing"))
        voicemail(sid, "housing", minute_ts + 60, "T-OPEN", at(11, 27, 17), merged=merged)

    call("CA13", at(12, 24, 14, 59))
    out.append(entry(Event.NO_AGENTS, "CA13", at(12, 24, 15), "general"))
    voicemail("CA13", "general", at(12, 24, 15, 1), "T-XMAS", XMAS_DUE)
    attempt("T-XMAS", "general", at(1, 4, 10, year=2027), 1, "answered")
    out.append(entry(Event.CALLBACK_DONE, "CAagentT-XMAS", at(1, 4, 10, year=2027), "general",
                     task="T-XMAS", agent="1010", attempts=1))

    # Transfers and online (no department: chosen at the menu).
    for sid, line, status, ts in (("CA20", "payment", "completed", at(11, 23, 11)),
                                  ("CA21", "payment", "no-answer", at(11, 24, 11)),
                                  ("CA22", "text_phone", "completed", at(11, 25, 11)),
                                  ("CA23", "payment", None, at(11, 26, 12))):
        call(sid, ts - 10)
        out.append(entry(Event.TRANSFER, sid, ts, line=line))
        if status:
            out.append(entry(Event.TRANSFER_RESULT, sid, ts + 90, line=line, status=status,
                             duration="85"))
    out.append(entry(Event.ONLINE, "CA01", at(11, 23, 9, 59, 50), "council_tax",
                     sms_offered=True))
    out.append(entry(Event.SMS_LINK, "CA01", at(11, 23, 9, 59, 55), "council_tax"))
    out.append(entry(Event.ONLINE, "CA07", at(11, 24, 9, 44, 50), "benefits", sms_offered=False))
    call("CA30", at(11, 26, 13), notice=False)  # the notice event never arrived

    # Wrap-ups are written on the agent's call, naming the caller; feedback on the caller's.
    for caller, resolved, score, ts in (("CA01", True, 5, at(11, 23, 10, 9)),
                                        ("CA02", True, 4, at(11, 23, 10, 15)),
                                        ("CA03", False, 2, at(11, 23, 10, 20)),
                                        ("CA07", True, 5, at(11, 24, 9, 55))):
        out.append(entry(Event.WRAP_UP, "CAagent" + caller, ts, agent="1001", caller=caller,
                         resolved=resolved))
        out.append(entry(Event.FEEDBACK, caller, ts + 5, score=score, agent="1001"))
    out.append(entry(Event.FEEDBACK_COMMENT, "CA01", at(11, 23, 10, 10), recording="RECOMMENT1",
                     duration=12))
    return out


def decoded() -> list[dict]:
    return [decode(e) for e in entries()]
