"""Log lines a request cannot forge or flood: control characters escaped, long values cut,
one record one line, phone numbers still masked; in pytest's records and in the output of the
handler production uses (``ivr.wsgi``, what ``ivr serve`` runs under gunicorn)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from caller import ACCOUNT_SID, AUTH_TOKEN, BASE, Caller
from conftest import TEST_REDIS_URL

from ivr import logsafe
from ivr.logsafe import ARG_LIMIT, LINE_LIMIT, clean

ROOT = Path(__file__).resolve().parent.parent
OPEN = "2026-12-01 10:00:00+00:00"
MOBILE = "+447911123456"
MASKED = "+44 7911 123***"
FORGED = "\r\n2026-12-01 10:00:00 [1] ERROR flows.failsafe: FORGED"
HUGE = "A" * 100_000
BOUND = 1_000  # a record's message with a few cut values stays well under this


# -- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("CA123", "CA123"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("nul\x00 esc\x1b[31m del\x7f", "nul\\x00 esc\\x1b[31m del\\x7f"),
        ("nel\x85 csi\x9b", "nel\\x85 csi\\x9b"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
        ("caf\u00e9 \u00a35 \u20ac", "caf\u00e9 \u00a35 \u20ac"),  # printable text untouched
        (MASKED, MASKED),
        (12, "12"),
    ],
)
def test_clean_escapes_control_characters(raw, shown):
    assert clean(raw) == shown


def test_clean_cuts_a_long_value_and_says_so():
    shown = clean(HUGE)
    assert shown == "A" * ARG_LIMIT + f"...[{100_000 - ARG_LIMIT} more chars]"
    assert clean("A" * ARG_LIMIT) == "A" * ARG_LIMIT
    assert len(clean("\n" * 100_000)) < ARG_LIMIT * 2 + 40  # escapes after the cut


def record(msg, *args) -> logging.LogRecord:
    made = logging.LogRecord("t", logging.WARNING, __file__, 1, msg, args, None)
    logsafe.SafeRecords().filter(made)
    return made


class Odd:
    def __str__(self) -> str:
        return "str\nFORGED"

    def __repr__(self) -> str:
        return "repr\nFORGED"


@pytest.mark.parametrize(
    ("msg", "args", "shown"),
    [
        ("call %s", ("CA1\r\nFORGED",), "call CA1\\r\\nFORGED"),
        ("waited %ds (%.1f)", (12, 3.25), "waited 12s (3.2)"),
        ("value %r", ("a\nb",), "value 'a\\\\nb'"),
        ("error: %s / %r", (Odd(), Odd()), "error: str\\nFORGED / repr\\nFORGED"),
        ("%(sid)s at %(n)d", ({"sid": "x\ny", "n": 3},), "x\\ny at 3"),
        ("pre-formatted\nFORGED", (), "pre-formatted\\nFORGED"),
        (ValueError("bad\nFORGED"), (), "bad\\nFORGED"),
        ("none %s", (None,), "none None"),
    ],
)
def test_records_are_made_safe(msg, args, shown):
    assert record(msg, *args).getMessage() == shown


class Atoms(dict):
    """Like gunicorn's access-log atoms: any header not sent reads as "-"."""

    def __getitem__(self, key):
        return super().__getitem__(key) if key in self else "-"


def test_a_mapping_keeps_its_own_lookup():
    made = record('%(r)s "%({x-forwarded-for}i)s" %(s)d', Atoms(r="POST /a\nFORGED", s=200))
    assert made.getMessage() == 'POST /a\\nFORGED "-" 200'


def test_a_record_is_made_safe_once():
    made = record("%s", HUGE)
    logsafe.SafeRecords().filter(made)
    assert made.getMessage() == clean(HUGE)


# -- a signed request carrying CR/LF and 100 kB values ------------------------------------------


def lines_of(text: str) -> list[str]:
    assert text.endswith("\n")
    return text[:-1].split("\n")


@pytest.fixture
def production_output():
    """The production handler (``logsafe.handler``) on the root logger, writing to a buffer."""
    out = io.StringIO()
    handler = logsafe.handler(out)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)


def assert_safe(caplog, out: io.StringIO, expected_records: int) -> None:
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) >= expected_records
    for r in records:
        message = r.getMessage()
        assert "\n" not in message and "\r" not in message
        assert len(message) < BOUND
    written = lines_of(out.getvalue())
    starts = [line for line in written if line[:4].isdigit()]  # "2026-..." timestamps
    assert len(written) == len(starts) == len(records)  # one record, one line
    assert all(len(line) < LINE_LIMIT + 40 for line in written)
    assert not any(line.startswith("2026-12-01 10:00:00 [1]") for line in written)
    assert MOBILE not in out.getvalue() and MOBILE not in caplog.text


@time_machine.travel(OPEN, tick=False)
def test_fallback_values_are_logged_escaped_and_cut(app, caplog, production_output):
    caplog.set_level(logging.WARNING)
    caller = Caller(app.test_client(), call_sid="CA" + "1" * 32 + FORGED)
    error_url = BASE + "/voice/incoming?" + HUGE + FORGED
    doc = caller.post("/voice/fallback", ErrorCode="11200" + FORGED, ErrorUrl=error_url)
    assert doc.has("Enqueue")  # routed on as ever
    assert_safe(caplog, production_output, 1)
    [line] = lines_of(production_output.getvalue())
    assert "Twilio used the fallback URL for call CA" + "1" * 32 + "\\r\\n2026-12-01" in line
    assert "error 11200\\r\\n2026-12-01" in line
    assert HUGE not in line and f"...[{len(error_url) - ARG_LIMIT} more chars])" in line


@time_machine.travel(OPEN, tick=False)
def test_a_failing_handler_logs_one_line_per_record(app, caplog, monkeypatch,
                                                   production_output):
    def boom(*args, **kwargs):
        raise RuntimeError("handler bug" + FORGED + HUGE)

    caplog.set_level(logging.WARNING)
    caller = Caller(app.test_client(), call_sid="CA" + "2" * 32 + FORGED + HUGE)
    caller.ring()
    monkeypatch.setattr("flows.menu.choose", boom)
    assert caller.press("2").has("Enqueue")
    assert_safe(caplog, production_output, 1)
    [line] = lines_of(production_output.getvalue())
    assert "Traceback (most recent call last):\\n" in line  # the traceback, on the same line
    assert MASKED in line


def test_a_refused_path_is_logged_escaped(app, caplog, production_output):
    caplog.set_level(logging.WARNING)
    response = app.test_client().post("/voice/queue/x%0D%0A2026-12-01%2010:00:00%20%5B1%5D/wait",
                                      data={"CallSid": "CA1"})
    assert response.status_code == 403
    assert_safe(caplog, production_output, 1)
    assert "unsigned request to /voice/queue/x\\r\\n2026" in production_output.getvalue()


# -- as served: ivr.wsgi's handler, in a process of its own -------------------------------------

SERVED = """
import json, sys
from twilio.request_validator import RequestValidator
import ivr.wsgi
form = json.loads(sys.stdin.read())
url = "http://localhost/voice/fallback"
sig = RequestValidator(form.pop("_token")).compute_signature(url, form)
response = ivr.wsgi.app.test_client().post("/voice/fallback", data=form,
                                           headers={"X-Twilio-Signature": sig})
assert response.status_code == 200, response.status_code
"""


def test_the_served_process_writes_one_safe_line_per_record(tmp_path, redis_client):
    env = {k: v for k, v in os.environ.items() if k not in ("TWILIO_AUTH_TOKEN", "REDIS_URL")}
    env |= {"REDIS_URL": TEST_REDIS_URL, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "IVR_CONFIG": str(ROOT / "config.yaml"), "IVR_SPOOL_DIR": str(tmp_path / "spool"),
            "PYTHONPATH": str(ROOT), "PUBLIC_BASE_URL": ""}
    form = {"_token": AUTH_TOKEN, "CallSid": "CA" + "3" * 32 + FORGED, "AccountSid": ACCOUNT_SID,
            "From": MOBILE, "To": "+441206282222", "ErrorCode": "11200" + FORGED,
            "ErrorUrl": "https://ivr.example.org/voice/incoming?" + HUGE + FORGED}
    done = subprocess.run([sys.executable, "-c", SERVED], input=json.dumps(form), env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    written = lines_of(done.stderr)
    [line] = [w for w in written if "fallback URL" in w]
    assert " ERROR flows.failsafe: Twilio used the fallback URL for call CA" in line
    assert all(w[:4].isdigit() for w in written)  # every line is a record's own
    assert all(len(w) < LINE_LIMIT + 40 for w in written)
    assert "FORGED" in line and MOBILE not in done.stderr
    assert HUGE not in line and len(line) < BOUND
