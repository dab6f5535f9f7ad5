"""Agents: the store (who they are, their secrets, their state) and the ``ivr agents`` CLI.

Secrets are kept only as salted scrypt hashes; every state change is an AGENTSTATE event and
keeps the per-department on-duty sets that decide whether callers may queue at all.
"""

from __future__ import annotations

import io
import time
from datetime import datetime

import pytest
import time_machine
from conftest import ROOT

from ivr import agents, audit
from ivr.agents import Agent, Role, State
from ivr.cli import main
from ivr.events import read_all

T0 = datetime.fromisoformat("2026-12-01 10:00:00+00:00").timestamp()  # Tuesday 10:00 GMT


@pytest.fixture
def cli(redis_client, monkeypatch, capsys):
    """``ivr agents ...`` against the test database; returns (exit code, stdout, stderr)."""
    kw = redis_client.connection_pool.connection_kwargs
    monkeypatch.setenv("REDIS_URL", f"redis://{kw['host']}:{kw['port']}/{kw['db']}")
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(["agents", *argv])
        except SystemExit as exc:  # argparse errors and refused values
            code = exc.code if isinstance(exc.code, int) else 2
            out, err = capsys.readouterr()
            return code, out, err + ("" if isinstance(exc.code, int) else str(exc.code))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def secrets(monkeypatch):
    """What the person types at the prompts, in order (``getpass``, never echoed)."""
    typed: list[str] = []

    def type_in(*entries: str) -> None:
        typed.extend(entries)

    def getpass(prompt: str = "") -> str:
        if not typed:
            raise EOFError
        return typed.pop(0)

    monkeypatch.setattr("getpass.getpass", getpass)
    return type_in


def stored(redis_client, agent_id: str) -> dict[str, str]:
    return {k.decode(): v.decode()
            for k, v in redis_client.hgetall(agents.AGENT.format(id=agent_id)).items()}


def state_events(redis_client) -> list[dict]:
    return [e for e in read_all(redis_client) if e["event"] == "AGENTSTATE"]


def on_duty(redis_client, dept: str) -> set[str]:
    return {x.decode() for x in redis_client.smembers(agents.ON_DUTY.format(dept=dept))}


def add(redis_client, name="Priya Shah", departments=("council_tax",), phone="+447911123401",
        role=Role.AGENT) -> Agent:
    return agents.add(redis_client, name=name, departments=departments, phone=phone, role=role,
                      now=T0)


# -- the CLI -----------------------------------------------------------------------------------


def test_add_stores_the_agent_and_only_hashes_of_its_secrets(cli, redis_client, secrets):
    code, out, _ = cli("add", "--name", "Priya Shah", "--departments", "council_tax,benefits",
                       "--phone", "07911 123401")
    assert code == 0
    assert out.splitlines() == ["added agent 1001: Priya Shah (agent; council_tax, benefits)",
                                "next: ivr agents set-pin 1001; ivr agents set-password 1001"]
    secrets("correct horse 42", "correct horse 42")
    assert cli("set-password", "1001")[0] == 0
    secrets("482913", "482913")
    assert cli("set-pin", "1001")[0] == 0
    h = stored(redis_client, "1001")
    assert h["name"] == "Priya Shah"
    assert h["departments"] == "council_tax,benefits"
    assert h["phone"] == "+447911123401"  # normalised to E.164
    assert h["role"] == "agent"
    assert h["state"] == "signed_out"
    for field, secret in (("password_hash", "correct horse 42"), ("pin_hash", "482913")):
        assert h[field].startswith("scrypt:")
        assert secret not in h[field]
    # the secrets themselves are nowhere in the database
    for key in redis_client.scan_iter():
        dump = b" ".join(v for pair in redis_client.hgetall(key).items() for v in pair) \
            if redis_client.type(key) == b"hash" else b""
        assert b"482913" not in dump and b"correct horse" not in dump
    assert b"482913" not in b"".join(v for _, e in redis_client.xrange(audit.STREAM)
                                     for v in e.values())
    assert agents.check_secret(redis_client, "1001", "pin_hash", "482913")
    assert agents.check_secret(redis_client, "1001", "password_hash", "correct horse 42")
    assert not agents.check_secret(redis_client, "1001", "pin_hash", "482914")
    assert agents.by_phone(redis_client, "+447911123401").id == "1001"
    trail = [(e.actor, e.action, e.target) for e in audit.read(redis_client)]
    assert trail == [("cli", "pin_changed", "1001"), ("cli", "password_changed", "1001"),
                     ("cli", "agent_added", "1001")]
    added = audit.read(redis_client, action="agent_added")[0].detail
    assert added == {"name": "Priya Shah", "role": "agent",
                     "departments": "council_tax,benefits", "phone": "+44 7911 123***"}


def test_two_agents_with_one_pin_get_different_salts(cli, redis_client, secrets):
    cli("add", "--name", "A One")
    cli("add", "--name", "B Two")
    for agent_id in ("1001", "1002"):
        secrets("580417", "580417")
        assert cli("set-pin", agent_id)[0] == 0
    assert stored(redis_client, "1001")["pin_hash"] != stored(redis_client, "1002")["pin_hash"]


def test_list_shows_every_agent_with_state_and_departments(cli, redis_client):
    cli("add", "--name", "Priya Shah", "--departments", "council_tax", "--phone", "07911123401")
    cli("add", "--name", "Sam Lee", "--role", "supervisor")
    agents.set_state(redis_client, agents.get(redis_client, "1001"), State.AVAILABLE, T0)
    code, out, _ = cli("list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].split() == ["1001", "Priya", "Shah", "agent", "available", "council_tax",
                                "+447911123401"]
    assert lines[1].split() == ["1002", "Sam", "Lee", "supervisor", "signed_out", "(all)"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--departments", "parking"], "unknown department(s) parking"),
        (["--phone", "+33612345678"], "is not a UK number we can call"),
        (["--role", "boss"], "invalid choice"),
    ],
)
def test_add_refuses_bad_values_and_stores_nothing(cli, redis_client, args, message):
    code, _, err = cli("add", "--name", "Priya Shah", *args)
    assert code == 2
    assert message in err
    assert agents.all_agents(redis_client) == []


def test_a_phone_belongs_to_one_agent(cli, redis_client):
    assert cli("add", "--name", "Priya Shah", "--phone", "07911123401")[0] == 0
    code, _, err = cli("add", "--name", "Sam Lee", "--phone", "+447911123401")
    assert code == 2
    assert "already belongs to another agent" in err
    assert [a.name for a in agents.all_agents(redis_client)] == ["Priya Shah"]


def test_set_pin_and_set_password_replace_the_hash(cli, redis_client, secrets, monkeypatch):
    cli("add", "--name", "Priya Shah")
    agents.set_secret(redis_client, "1001", "pin_hash", "1111")  # set before the rules
    agents.set_secret(redis_client, "1001", "password_hash", "old password")
    before = stored(redis_client, "1001")
    monkeypatch.setattr("sys.stdin", io.StringIO(" 24681357 \n"))
    assert cli("set-pin", "1001", "--pin-stdin") == (0, "PIN set for agent 1001\n", "")
    monkeypatch.setattr("sys.stdin", io.StringIO(" a new pass phrase \r\nignored\n"))
    assert cli("set-password", "1001", "--password-stdin")[0] == 0
    after = stored(redis_client, "1001")
    assert after["pin_hash"] != before["pin_hash"] and "24681357" not in after["pin_hash"]
    assert after["password_hash"].startswith("scrypt:")
    assert not agents.check_secret(redis_client, "1001", "pin_hash", "1111")
    assert agents.check_secret(redis_client, "1001", "pin_hash", "24681357")
    assert not agents.check_secret(redis_client, "1001", "password_hash", "old password")
    # a password keeps its spaces; only the line's end is taken off
    assert agents.check_secret(redis_client, "1001", "password_hash", " a new pass phrase ")


@pytest.mark.parametrize(("pin", "reason"), [
    ("12345", "a PIN is 6 to 12 digits (this one has 5)"),
    ("1234567890123", "a PIN is 6 to 12 digits (this one has 13)"),
    ("12a456", "a PIN is digits only"),
    ("111111", "a PIN may not be one digit repeated"),
    ("123456", "a PIN may not be a run of digits up or down"),
    ("987654", "a PIN may not be a run of digits up or down"),
    ("551001", "a PIN may not contain the agent number"),
    ("123401", "a PIN may not be taken from the advisor's phone number"),  # its last digits
    ("791112", "a PIN may not be taken from the advisor's phone number"),
])
def test_set_pin_refuses_short_and_obvious_pins(cli, redis_client, secrets, pin, reason):
    cli("add", "--name", "Priya Shah", "--phone", "07911123401")
    agents.set_secret(redis_client, "1001", "pin_hash", "580417")
    before = stored(redis_client, "1001")["pin_hash"]
    secrets(pin, pin)
    code, _, err = cli("set-pin", "1001")
    assert code == 2
    assert err.startswith(f"error: PIN: {reason}") and len(err.splitlines()) == 1
    assert pin not in err
    assert stored(redis_client, "1001")["pin_hash"] == before
    assert audit.read(redis_client, action="pin_changed") == []


def test_a_password_shorter_than_the_consoles_minimum_is_refused(cli, redis_client, secrets,
                                                                 monkeypatch):
    cli("add", "--name", "Priya Shah")
    secrets("a", "a")
    assert cli("set-password", "1001") == (
        2, "", "error: password: a password needs at least 10 characters\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = cli("set-password", "1001", "--password-stdin")
    assert (code, err) == (2, "error: --password-stdin: a password needs at least 10 "
                              "characters\n")
    secrets("correct horse 42", "correct horse 43")
    assert cli("set-password", "1001") == (
        2, "", "error: password: the two entries differ; nothing changed\n")
    assert "password_hash" not in stored(redis_client, "1001")


@pytest.mark.parametrize("argv", [
    ["set-password", "1001", "--password", "Xq9-hunter2"],
    ["set-password", "1001", "--password=correct horse 42"],
    ["set-pin", "1001", "--pin", "580417"],
    ["add", "--name", "Sam Lee", "--password", "correct horse 42"],
    ["add", "--name", "Sam Lee", "--pin", "580417"],
])
def test_a_secret_on_the_command_line_is_refused(cli, redis_client, argv):
    """It would be in the shell's history: refused, with what to do instead, before anything
    is stored (not even the agent)."""
    cli("add", "--name", "Priya Shah")
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    [message] = err.splitlines()
    option, what = (("--password", "a password") if any(a.startswith("--password") for a in argv)
                    else ("--pin", "a PIN"))
    assert message.startswith(f"error: {option}: {what} is never taken on the command line")
    assert "--password-stdin" in message or "--pin-stdin" in message
    assert "set-password" in message or "set-pin" in message
    assert argv[-1].split("=")[-1] not in message
    assert [a.id for a in agents.all_agents(redis_client)] == ["1001"]
    assert set(stored(redis_client, "1001")) >= {"name"}
    assert "password_hash" not in stored(redis_client, "1001")
    assert "pin_hash" not in stored(redis_client, "1001")


@pytest.mark.parametrize(("name", "reason"), [
    ("\u202eevil Bob", "a name may not hold the text-direction character U+202E"),
    ("Bob \u2066Smith", "a name may not hold the text-direction character U+2066"),
    ("Bob\u200f", "a name may not hold the text-direction character U+200F"),
    ("Bob\x00", "a name may not hold the control or invisible character U+0000"),
    ("Bob\x85", "a name may not hold the control or invisible character U+0085"),
    ("Bob\tSmith", "a name may not hold the control or invisible character U+0009"),
    ("B\u200bob", "a name may not hold the control or invisible character U+200B"),
    ("x" * 300, "a name is at most 60 characters (this one has 300)"),
    ("", "a name is needed (1 to 60 characters)"),
    ("   ", "a name is needed (1 to 60 characters)"),
])
def test_add_and_set_name_refuse_bad_names(cli, redis_client, name, reason):
    code, _, err = cli("add", "--name", name)
    assert (code, err) == (2, f"error: --name: {reason}\n")
    assert agents.all_agents(redis_client) == []
    cli("add", "--name", "Priya Shah")
    code, _, err = cli("set-name", "1001", "--name", name)
    assert (code, err) == (2, f"error: --name: {reason}\n")
    assert stored(redis_client, "1001")["name"] == "Priya Shah"


def test_names_are_trimmed_and_kept_in_any_script(cli, redis_client):
    assert cli("add", "--name", "  Zoë   O'Brien-Łukasz  ")[0] == 0
    assert cli("add", "--name", "x" * 60)[0] == 0
    assert cli("add", "--name", "محمد علي")[0] == 0
    assert [a.name for a in agents.all_agents(redis_client)] == [
        "Zoë O'Brien-Łukasz", "x" * 60, "محمد علي"]


def test_set_name_and_set_departments_change_the_agent(cli, redis_client):
    cli("add", "--name", "Priya Shah", "--departments", "council_tax")
    agents.set_state(redis_client, agents.get(redis_client, "1001"), State.AVAILABLE, T0)
    assert cli("set-name", "1001", "--name", "Priya Patel") == (
        0, "agent 1001 is now named Priya Patel\n", "")
    assert cli("set-departments", "1001", "--departments", "benefits, housing")[0] == 0
    agent = agents.get(redis_client, "1001")
    assert (agent.name, agent.departments) == ("Priya Patel", ("benefits", "housing"))
    # signed in: moved between the on-duty sets at once
    assert on_duty(redis_client, "council_tax") == set()
    assert on_duty(redis_client, "benefits") == on_duty(redis_client, "housing") == {"1001"}
    assert cli("set-departments", "1001", "--departments", "")[0] == 0  # all of them
    assert on_duty(redis_client, "benefits") == set()
    assert on_duty(redis_client, "*") == {"1001"}
    code, _, err = cli("set-departments", "1001", "--departments", "parking")
    assert (code, err) == (2, "error: --departments: unknown department(s) parking; choose "
                              "from benefits, council_tax, general, housing, street_care\n")
    changes = [e.detail for e in audit.read(redis_client, action="agent_changed")]
    assert changes == [{"departments": ""}, {"departments": "benefits,housing"},
                       {"name": "Priya Patel"}]


def test_departments_change_of_a_signed_out_agent_touches_no_duty(cli, redis_client):
    cli("add", "--name", "Priya Shah", "--departments", "council_tax")
    assert cli("set-departments", "1001", "--departments", "housing")[0] == 0
    assert on_duty(redis_client, "housing") == set() == on_duty(redis_client, "council_tax")


def test_unlock_ends_the_line_and_console_lockouts(cli, redis_client, config):
    from ivr.agents import lockout
    from ivr.console import auth as console_auth

    cli("add", "--name", "Priya Shah", "--phone", "07911123401")
    limits = lockout.Limits.of(config.agents)
    now = time.time()
    for caller in ("+447700900111", "+447911123401", "+447700900333", "+447700900444",
                   "+447700900555"):
        lockout.record_failure(redis_client, caller=caller, agent_id="1001", call_sid="CA1",
                               now=now, limits=limits, reason="wrong pin", retention_days=730)
    console_key = console_auth.account_key("1001")
    redis_client.hset(console_key, mapping={"n": 7, "last": now})  # a console sign-in wait
    code, out, _ = cli("lockouts")
    assert code == 0 and out.startswith("1001  Priya Shah")
    assert "locked out of the agent line until" in out
    code, out, err = cli("unlock", "1001", "--caller", "07700 900111")
    assert (code, err) == (0, "")
    assert out == ("agent 1001: agent line lockout ended; failed sign-ins forgotten (2 caller "
                   "ID(s) cleared); console sign-in wait cleared (7 failure(s))\n")
    assert lockout.lockouts(redis_client, now) == []
    for key in (console_key, lockout.AGENT_FAILS.format(id="1001"),
                lockout.caller_key("+447911123401"),
                lockout.caller_key("+447700900111")):
        assert not redis_client.exists(key), key
    assert redis_client.exists(lockout.caller_key("+447700900333"))  # another's: left to expire
    console, line = audit.read(redis_client, action="unlocked")  # newest first
    assert (line.actor, line.target, console.actor, console.target) == ("cli", "1001") * 2
    assert line.detail == {"agent_line": True, "other_keys": 0,
                           "caller_ids": ["+44 7911 123***", "+44 7700 900***"]}
    assert console.detail == {"failures": 7}
    assert cli("lockouts")[1] == "no agent is locked out of the agent line\n"


@pytest.mark.parametrize(("argv", "line"), [
    (["unlock", "1999"], "error: ID: no agent 1999, and no lockout of that number"),
    (["unlock", "1001", "--caller", "not a number"],
     "error: --caller: not a number is not a phone number"),
    (["add", "--name", "Sam", "--phone", "+33612345678"],
     "error: --phone: +33612345678 is not a UK number we can call"),
    (["add", "--name", "Sam", "--departments", "parking"],
     "error: --departments: unknown department(s) parking; choose from benefits, council_tax, "
     "general, housing, street_care"),
    (["set-name", "1999", "--name", "Sam"], "error: ID: no agent 1999"),
    (["add"], "ivr agents add: error: the following arguments are required: --name "
              "(see: ivr agents add --help)"),
    (["add", "--name", "Sam", "--role", "boss"],
     "ivr agents add: error: argument --role: invalid choice: 'boss' (choose from 'agent', "
     "'supervisor') (see: ivr agents add --help)"),
    (["set-pin", "1001", "--pin-std"], "ivr agents set-pin: error: unrecognized arguments: "
                                       "--pin-std (see: ivr agents set-pin --help)"),
])
def test_every_cli_mistake_is_one_line_and_status_2(cli, redis_client, argv, line):
    cli("add", "--name", "Priya Shah")
    code, out, err = cli(*argv)
    assert (code, out, err) == (2, "", line + "\n")


def test_remove_deletes_the_agent_its_phone_and_its_duty(cli, redis_client):
    cli("add", "--name", "Priya Shah", "--departments", "council_tax,housing",
        "--phone", "07911123401")
    agents.set_state(redis_client, agents.get(redis_client, "1001"), State.AVAILABLE, T0)
    assert on_duty(redis_client, "housing") == {"1001"}
    assert cli("remove", "1001") == (0, "removed agent 1001\n", "")
    assert agents.get(redis_client, "1001") is None
    assert agents.by_phone(redis_client, "+447911123401") is None
    assert on_duty(redis_client, "council_tax") == on_duty(redis_client, "housing") == set()
    assert not agents.anyone_on_duty(redis_client, "council_tax")
    assert cli("list")[1] == ""
    # the phone number is free again
    assert cli("add", "--name", "Sam Lee", "--phone", "07911123401")[0] == 0


# -- secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent_id", "pin"),
    [("1001", "9999"), ("1001", ""), ("1002", "4829"), ("abc", "4829"), ("", "4829")],
)
def test_check_secret_refuses(redis_client, agent_id, pin):
    agent = add(redis_client)
    agents.set_secret(redis_client, agent.id, "pin_hash", "4829")
    assert agents.check_secret(redis_client, "1001", "pin_hash", "4829")
    assert not agents.check_secret(redis_client, agent_id, "pin_hash", pin)


def test_no_pin_set_never_matches(redis_client):
    add(redis_client)
    assert not agents.check_secret(redis_client, "1001", "pin_hash", "")
    assert not agents.check_secret(redis_client, "1001", "pin_hash", "0000")


def test_an_unknown_agent_costs_the_same_hash_work(redis_client, monkeypatch):
    """No timing hint which part was wrong: an unknown agent number is hashed too."""
    add(redis_client)
    agents.set_secret(redis_client, "1001", "pin_hash", "4829")
    checked = []
    real = agents.check_password_hash
    monkeypatch.setattr(agents, "check_password_hash",
                        lambda h, s: checked.append(h.split("$")[0]) or real(h, s))
    assert not agents.check_secret(redis_client, "1001", "pin_hash", "1111")
    assert not agents.check_secret(redis_client, "1777", "pin_hash", "1111")
    assert checked[0] == checked[1]
    assert checked[0].startswith("scrypt:")


def test_set_secret_knows_only_password_and_pin(redis_client):
    add(redis_client)
    with pytest.raises(ValueError):
        agents.set_secret(redis_client, "1001", "name", "x")
    with pytest.raises(agents.AgentError):
        agents.set_secret(redis_client, "1999", "pin_hash", "1234")


# -- state -------------------------------------------------------------------------------------


def test_state_changes_are_events_and_keep_the_on_duty_sets(redis_client):
    agent = add(redis_client, departments=("council_tax", "benefits"))
    with time_machine.travel(T0 + 30, tick=False):
        agents.set_state(redis_client, agent, State.AVAILABLE, T0 + 30, reason="agent line")
    assert on_duty(redis_client, "council_tax") == on_duty(redis_client, "benefits") == {"1001"}
    assert on_duty(redis_client, "housing") == set()
    assert agents.anyone_on_duty(redis_client, "benefits")
    assert not agents.anyone_on_duty(redis_client, "housing")

    steps = [(State.ON_CALL, T0 + 90, "CAcall"), (State.WRAP_UP, T0 + 400, "CAcall"),
             (State.ON_BREAK, T0 + 460, ""), (State.AVAILABLE, T0 + 1360, "")]
    for state, at, sid in steps:
        agents.set_state(redis_client, agents.get(redis_client, "1001"), state, at, call_sid=sid)
        assert on_duty(redis_client, "council_tax") == {"1001"}, state  # all count as signed in
        assert agents.get(redis_client, "1001").state is state
        assert agents.get(redis_client, "1001").state_since == at

    agents.set_state(redis_client, agents.get(redis_client, "1001"), State.SIGNED_OUT, T0 + 1400)
    assert on_duty(redis_client, "council_tax") == on_duty(redis_client, "benefits") == set()
    assert not agents.anyone_on_duty(redis_client, "council_tax")

    seen = [(e["data"]["previous"], e["data"]["state"], e["data"]["seconds_in_previous"], e["ts"])
            for e in state_events(redis_client)]
    assert seen == [
        ("signed_out", "available", 30.0, T0 + 30),
        ("available", "on_call", 60.0, T0 + 90),
        ("on_call", "wrap_up", 310.0, T0 + 400),
        ("wrap_up", "on_break", 60.0, T0 + 460),
        ("on_break", "available", 900.0, T0 + 1360),
        ("available", "signed_out", 40.0, T0 + 1400),
    ]
    assert all(e["data"]["agent"] == "1001" for e in state_events(redis_client))
    assert state_events(redis_client)[1]["call"] == "CAcall"
    assert state_events(redis_client)[0]["data"]["reason"] == "agent line"


def test_an_agent_without_departments_is_on_duty_for_all(redis_client, config):
    """No departments means every department (CLI "all departments", the agent line, the
    console): signing in must let callers of every department queue."""
    agent = add(redis_client, name="Sam Lee", departments=(), role=Role.SUPERVISOR)
    assert all(agent.serves(d) for d in config.departments)
    assert not any(agents.anyone_on_duty(redis_client, d) for d in config.departments)
    agents.set_state(redis_client, agent, State.AVAILABLE, T0)
    assert all(agents.anyone_on_duty(redis_client, d) for d in config.departments)
    agents.set_state(redis_client, agents.get(redis_client, agent.id), State.SIGNED_OUT, T0 + 5)
    assert not any(agents.anyone_on_duty(redis_client, d) for d in config.departments)
    agents.set_state(redis_client, agents.get(redis_client, agent.id), State.ON_BREAK, T0 + 9)
    agents.remove(redis_client, agent.id)
    assert not any(agents.anyone_on_duty(redis_client, d) for d in config.departments)


def test_serves_and_signed_in_departments(config):
    def agent(depts, state, role=Role.AGENT):
        return Agent(id="1", name="A", departments=depts, phone="", role=role, state=state,
                     state_since=0)

    tax = agent(("council_tax",), State.AVAILABLE)
    assert tax.serves("council_tax") and not tax.serves("housing")
    everyone = list(config.departments)
    assert agents.signed_in_departments(
        [tax, agent(("housing",), State.SIGNED_OUT), agent(("benefits",), State.ON_BREAK)],
        everyone) == {"council_tax", "benefits"}
    assert agents.signed_in_departments([agent((), State.WRAP_UP)], everyone) == set(everyone)
    assert agents.signed_in_departments([agent((), State.SIGNED_OUT)], everyone) == set()


def test_first_name(redis_client):
    assert add(redis_client, name="  Priya   Shah ").first_name == "Priya"
    assert add(redis_client, name="Cher", phone="").first_name == "Cher"


def test_the_agent_line_call_is_linked_to_its_agent(redis_client):
    agent = add(redis_client)
    agents.link_call(redis_client, "CAline", agent.id)
    assert agents.for_call(redis_client, "CAline").id == agent.id
    assert agents.for_call(redis_client, "CAother") is None
    assert agents.for_call(redis_client, "") is None
    assert 0 < redis_client.ttl(agents.AGENT_CALL.format(sid="CAline")) <= 16 * 3600


# -- choosing the queue ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fronts", "expected"),
    [
        ({}, None),
        ({"council_tax": None, "housing": None}, None),
        ({"council_tax": 100.0}, "council_tax"),
        ({"council_tax": 100.0, "housing": 50.0}, "housing"),  # waited longest
        ({"council_tax": 50.0, "housing": 100.0}, "council_tax"),
        ({"council_tax": None, "housing": 100.0}, "housing"),
        ({"housing": 70.0, "benefits": 70.0}, "benefits"),  # a tie: a stable, known order
        ({"general": 10.5, "benefits": 10.25, "housing": 99.0}, "benefits"),
    ],
)
def test_pick_queue(fronts, expected):
    assert agents.pick_queue(fronts) == expected
