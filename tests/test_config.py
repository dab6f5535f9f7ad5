"""config.yaml: the real file loads, and a bad one fails with an error naming the key path."""

from __future__ import annotations

import copy
from datetime import time
from pathlib import Path

import pytest
import yaml

from ivr.app import create_app
from ivr.config import Action, ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "config.yaml"


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(REAL.read_text(encoding="utf-8"))


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def failure(tmp_path: Path, raw: dict, change) -> str:
    """The ConfigError message for the real config with one change."""
    data = copy.deepcopy(raw)
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message  # always names the file
    return message


# -- the real file ---------------------------------------------------------------------------------


def test_the_real_config_loads():
    config = load_config(REAL)
    assert config.council.main_number == "+441206282222"
    assert config.lines.payment_line == "+441206282725"
    assert config.lines.text_phone == "+441206282300"
    assert config.speech.language == "en-GB"
    assert (config.speech.keypad_timeout, config.speech.relay_keypad_timeout) == (5, 15)
    assert config.hours.timezone == "Europe/London"
    assert config.hours.weekly["monday"].open == time(9)
    assert config.hours.weekly["friday"].close == time(17)
    assert config.hours.weekly["saturday"] is None
    assert config.hours.closures == []  # none invented: the council adds its own (docs)
    assert [o.key for o in config.menu.options] == ["1", "2", "3", "4", "5", "9", "0"]
    assert config.menu.options[0].action is Action.PAYMENT_LINE
    assert config.menu.repeat_key == "*"
    assert config.menu.max_misses == 3
    assert (config.queue.voicemail_after, config.queue.max_overrun) == (120, 5)
    assert config.queue.high_demand_after == 90
    assert config.voicemail.max_length == 180
    assert config.callbacks.rq_queue == "callbacks"
    assert config.messages.recording_notice == (
        "Calls may be recorded for training and monitoring purposes."
    )


def test_a_round_trip_through_yaml_still_loads(tmp_path, raw):
    """The helper that writes variants must not itself break the file."""
    assert load_config(write(tmp_path, raw)) == load_config(REAL)


def test_config_is_frozen():
    config = load_config(REAL)
    with pytest.raises(Exception, match="frozen"):
        config.queue.voicemail_after = 600


# -- a bad file names the field -------------------------------------------------------------------


def set_key(path: str, value):
    """A change that sets a dotted key path (list indexes as numbers) to ``value``."""
    *parents, last = path.split(".")

    def change(data):
        node = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def delete_key(path: str):
    *parents, last = path.split(".")

    def change(data):
        node = data
        for part in parents:
            node = node[part]
        del node[last]

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (set_key("lines.payment_line", "12345"), ["lines.payment_line", "'12345'", "E.164"]),
        (set_key("lines.payment_line", "01206 282725"), ["lines.payment_line", "E.164"]),
        (set_key("lines.payment_line", "+44 1206 28272"), ["lines.payment_line"]),
        (set_key("council.sms_from", "council"), ["council.sms_from"]),
        (set_key("relay.caller_ids.1", "999"), ["relay.caller_ids.1", "'999'"]),
        (set_key("messages.connecting", "Putting you through to {dept}."),
         ["messages.connecting", "'dept'", "allowed: department"]),
        (set_key("messages.welcome", "Welcome to {council}."),
         ["messages.welcome", "'council'", "allowed: none"]),
        (set_key("menu.options.1.department", "parking"),
         ["menu.options.1.department", "'parking'", "council_tax"]),
        (set_key("menu.fallback_department", "switchboard"),
         ["menu.fallback_department", "'switchboard'"]),
        (set_key("menu.options.2.key", "2"),
         ["menu.options", "menu.options.2.key", "'2'", "menu.options.1.key"]),
        (set_key("menu.options.3.key", "22"), ["menu.options.3.key", "'22'"]),
        (set_key("hours.weekly.monday", {"open": "17:00", "close": "09:00"}),
         ["hours.weekly.monday", "close must be later than open"]),
        (set_key("hours.weekly.friday", {"open": "09:00", "close": "09:00"}),
         ["hours.weekly.friday"]),
        (set_key("hours.timezone", "Europe/Londn"), ["hours.timezone", "'Europe/Londn'"]),
        (set_key("hours.closures", ["29th December"]), ["hours.closures.0"]),
        (delete_key("hours.weekly.sunday"), ["hours.weekly", "sunday"]),
        (set_key("queue.max_overrun", 0), ["queue.max_overrun", "0"]),
        (set_key("queue.voicemail_after", "two minutes"), ["queue.voicemail_after"]),
        (set_key("speech.relay_keypad_timeout", 0), ["speech.relay_keypad_timeout"]),
        (set_key("recording.advisor_leg", "always"), ["recording.advisor_leg", "'always'"]),
        (set_key("departments.housing.link", "http://www.colchester.gov.uk/housing"),
         ["departments.housing.link"]),
        (set_key("departments.benefits.queue", "council-tax"),
         ["departments.benefits.queue", "'council-tax'", "departments.council_tax"]),
        (delete_key("messages.recording_notice"), ["messages.recording_notice", "Field required"]),
        (set_key("queue.voicemail_afer", 120), ["queue.voicemail_afer", "not permitted"]),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else "",
)
def test_errors_name_the_key_path(tmp_path, raw, change, expected):
    message = failure(tmp_path, raw, change)
    for fragment in expected:
        assert fragment in message, message
    assert len(message) < 600, message  # one readable sentence, not a dump of the file


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "not found" in message
    assert "IVR_CONFIG" in message  # says how to fix it


def test_bad_yaml(tmp_path):
    path = tmp_path / "config.yaml"
    text = REAL.read_text(encoding="utf-8").replace(
        "  keypad_timeout: 5", "  keypad_timeout: [5", 1
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "not valid YAML" in message
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if "keypad_timeout: [5" in ln)
    assert f"line {line}" in message or f"line {line + 1}" in message


@pytest.mark.parametrize("content", ["", "- just\n- a list\n", "just a string\n"])
def test_not_a_mapping(tmp_path, content):
    path = tmp_path / "config.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_create_app_refuses_a_bad_config(tmp_path, raw):
    data = copy.deepcopy(raw)
    data["lines"]["payment_line"] = "12345"
    path = write(tmp_path, data)
    with pytest.raises(ConfigError, match="lines.payment_line"):
        create_app({"IVR_CONFIG": str(path), "REDIS_URL": "redis://127.0.0.1:1/0"})


def test_retention_of_closed_callbacks_is_bounded(tmp_path):
    raw = yaml.safe_load(REAL.read_text(encoding="utf-8"))

    def too_long(d):
        d["callbacks_work"]["keep_closed_tasks"] = 10**16

    def too_short(d):
        d["callbacks_work"]["keep_closed_tasks"] = 86400

    assert "callbacks_work.keep_closed_tasks" in failure(tmp_path, raw, too_long)
    assert "callbacks_work.keep_closed_tasks" in failure(tmp_path, raw, too_short)


@pytest.mark.parametrize("field", ["keep_advisor_calls", "keep_feedback_comments"])
@pytest.mark.parametrize("value", [10**16, 3600, "ninety days"])
def test_recording_retention_at_twilio_is_bounded(tmp_path, field, value):
    raw = yaml.safe_load(REAL.read_text(encoding="utf-8"))

    def change(d):
        d["recording"][field] = value

    assert f"recording.{field}" in failure(tmp_path, raw, change)


def test_feedback_comments_are_not_kept_past_their_event(tmp_path):
    """The comment's event is its only pointer: deleting it at Twilio must come first."""
    raw = yaml.safe_load(REAL.read_text(encoding="utf-8"))

    def change(d):
        d["events"]["retention_days"] = 30
        d["recording"]["keep_feedback_comments"] = 31 * 86400

    message = failure(tmp_path, raw, change)
    assert "recording.keep_feedback_comments" in message and "events.retention_days" in message
