"""The console's sessions and sign-in throttling, one test per finding of issue 15 (items 5, 6).

Sessions live in Redis, so a cookie copied before sign-out is refused after it; polling does
not keep a session alive; sessions end when idle and at their lifetime; sign-in waits grow but
never lock an advisor out; one client cannot try many numbers; an unknown agent number costs
the same scrypt work as a known one. Time moves with time-machine (the app's one clock); no
test measures wall time.
"""

from __future__ import annotations

import hashlib
import time
from email.utils import parsedate_to_datetime

import pytest
import time_machine
import yaml
from conftest import ROOT
from test_console import PASSWORD, Console, add_agent, as_user

from ivr import agents, audit
from ivr.agents import Role
from ivr.audit import Action
from ivr.config import ConfigError, load_config
from ivr.console import session as sessions
from ivr.console import throttle
from ivr.console.auth import DEVICE_COOKIE, account_key, unlock_console
from ivr.console.session import COOKIE

T0 = "2026-12-01 10:00:00+00:00"
OUTSIDER = "203.0.113.66"
ADVISOR_PC = "198.51.100.7"


@pytest.fixture
def staff(redis_client):
    return {
        "super": add_agent(redis_client, "Sam Supervisor", (), "+447911123401", Role.SUPERVISOR),
        "tax": add_agent(redis_client, "Tara Tax", ("council_tax",), "+447911123402"),
        "ben": add_agent(redis_client, "Ben Benefits", ("benefits",), ""),
    }


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def cookie_of(console: Console) -> str:
    return console.client.get_cookie(COOKIE, path="/console").value


def replay(app, value: str):
    """Someone else's browser holding a copy of the cookie (and ignoring its expiry)."""
    client = app.test_client()
    client.set_cookie(COOKIE, value, path="/console")
    return client


def from_address(app, address: str) -> Console:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Console(client)


def entries(redis_client, action: Action) -> list[audit.Entry]:
    return audit.read(redis_client, action=str(action))


# -- sessions --------------------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app, staff, redis_client):
    """Finding: a cookie captured before sign-out still read live.json and the callbacks."""
    tax = as_user(app, staff["tax"])
    copied = cookie_of(tax)
    assert replay(app, copied).get("/console/live.json").status_code == 200
    tax.post("/console/logout")
    surviving = [path for path in ("/console/live.json", "/console/wallboard.json",
                                   "/console/callbacks", "/console/", "/console/wallboard")
                 if replay(app, copied).get(path).status_code == 200]
    assert surviving == []  # sessions surviving sign-out: goal 0
    assert replay(app, copied).get("/console/live.json").status_code == 401
    assert replay(app, copied).get("/console/callbacks").headers["Location"] == "/console/login"
    assert redis_client.keys("{ivr}:console:session:*") == []
    (out,) = entries(redis_client, Action.CONSOLE_SIGNOUT)
    assert (out.actor, out.target) == (staff["tax"].id, staff["tax"].id)


def test_polling_does_not_keep_a_session_alive(app, staff, config, clock):
    """Finding: every 2-second poll renewed the cookie, so an open tab never timed out."""
    idle = config.agents.console_idle_minutes * 60
    tax = as_user(app, staff["tax"])
    every = 10  # the pages poll every 2-3 s; fewer requests make the same point
    for _ in range(idle // every - 1):
        clock.shift(every)
        for path in ("/console/live.json", "/console/wallboard.json"):
            response = tax.client.get(path)
            assert response.status_code == 200
            assert "Set-Cookie" not in response.headers  # the cookie is never renewed
    clock.shift(every)  # the idle time since sign-in has passed, polls notwithstanding
    assert tax.client.get("/console/live.json").status_code == 401
    html = tax.client.get("/console/login").get_data(as_text=True)
    assert f"after {config.agents.console_idle_minutes} minutes without activity" in html


def test_actions_keep_it_alive_until_idle_then_it_ends(app, staff, config, clock):
    idle = config.agents.console_idle_minutes * 60
    tax = as_user(app, staff["tax"])
    copied = cookie_of(tax)
    for _ in range(3):  # a page now and then: three idle periods pass, still signed in
        clock.shift(idle - 5)
        assert tax.client.get("/console/callbacks").status_code == 200
    clock.shift(idle)
    assert tax.client.get("/console/").status_code == 302
    assert replay(app, copied).get("/console/live.json").status_code == 401


def test_a_session_ends_at_its_lifetime_however_busy(app, staff, config, clock):
    lifetime = config.agents.console_session_hours * 3600
    tax = as_user(app, staff["tax"])
    set_cookie = tax.client.get_cookie(COOKIE, path="/console")
    assert set_cookie.expires.timestamp() == pytest.approx(time.time() + lifetime, abs=1)
    copied = cookie_of(tax)
    step = config.agents.console_idle_minutes * 60 // 2
    elapsed = 0
    while elapsed + step < lifetime:
        clock.shift(step)
        elapsed += step
        assert tax.client.get("/console/").status_code == 200
    clock.shift(lifetime - elapsed)
    assert tax.client.get("/console/").status_code == 302
    assert replay(app, copied).get("/console/live.json").status_code == 401
    assert "reached its" in tax.client.get("/console/login").get_data(as_text=True)


def test_the_cookie_keeps_its_first_expiry(app, staff, clock):
    sup = as_user(app, staff["super"])
    first = sup.client.get_cookie(COOKIE, path="/console").expires
    clock.shift(600)
    response = sup.post(f"/console/agents/{staff['ben'].id}/password", password="another one!")
    header = response.headers["Set-Cookie"]  # rewritten for the flashed message ...
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0])
    assert expires == first  # ... never with a later end
    sup.page("/console/agents")  # shows (and so removes) the flashed message
    assert "Set-Cookie" not in sup.client.get("/console/agents").headers  # a page: untouched


def test_sign_out_everywhere(app, staff, redis_client):
    office, home = as_user(app, staff["tax"]), as_user(app, staff["tax"])
    ben = as_user(app, staff["ben"])
    sup = as_user(app, staff["super"])
    assert "2 sessions" in sup.page("/console/agents")
    response = sup.post(f"/console/agents/{staff['tax'].id}/sign-out")
    assert response.status_code == 302
    assert office.client.get("/console/live.json").status_code == 401
    assert home.client.get("/console/").status_code == 302
    assert ben.client.get("/console/live.json").status_code == 200
    assert sup.client.get("/console/live.json").status_code == 200
    (ended,) = entries(redis_client, Action.SESSIONS_ENDED)
    assert (ended.actor, ended.target, ended.detail) == (staff["super"].id, staff["tax"].id,
                                                         {"sessions": 2})
    assert as_user(app, staff["tax"]).client.get("/console/").status_code == 200


def test_a_supervisor_signing_themselves_out_everywhere_ends_this_session_too(app, staff):
    sup, other = as_user(app, staff["super"]), as_user(app, staff["super"])
    response = sup.post(f"/console/agents/{staff['super'].id}/sign-out")
    assert response.headers["Location"] == "/console/login"
    assert sup.client.get("/console/").status_code == 302
    assert other.client.get("/console/").status_code == 302


def test_new_password_and_removal_end_sessions_at_once(app, staff, redis_client):
    tax, ben = as_user(app, staff["tax"]), as_user(app, staff["ben"])
    sup, sup_other = as_user(app, staff["super"]), as_user(app, staff["super"])
    sup.post(f"/console/agents/{staff['tax'].id}/password", password="a new password")
    assert tax.client.get("/console/live.json").status_code == 401
    sup.post(f"/console/agents/{staff['ben'].id}/remove", confirm="yes")
    assert ben.client.get("/console/live.json").status_code == 401
    sup.post(f"/console/agents/{staff['super'].id}/password", password="my own new one")
    assert sup.client.get("/console/").status_code == 200  # the session that changed it
    assert sup_other.client.get("/console/").status_code == 302
    assert [e.target for e in entries(redis_client, Action.PASSWORD_CHANGED)] == [
        staff["super"].id, staff["tax"].id]
    (removed,) = entries(redis_client, Action.AGENT_REMOVED)
    assert removed.detail == {"sessions_ended": 1}
    assert not redis_client.zrange(sessions.OF_AGENT.format(agent=staff["ben"].id), 0, -1)


def test_a_new_sign_in_replaces_the_browsers_old_session(app, staff, redis_client):
    c = as_user(app, staff["tax"])
    old = cookie_of(c)
    c.post("/console/login", agent=staff["ben"].id, password=PASSWORD)
    assert replay(app, old).get("/console/live.json").status_code == 401
    assert len(redis_client.keys("{ivr}:console:session:*")) == 1


def test_headers_over_https(make_app, staff):
    app = make_app(PUBLIC_BASE_URL="https://ivr.colchester.gov.uk")
    client = app.test_client()
    page = client.get("/console/login", base_url="https://ivr.colchester.gov.uk")
    assert "Secure" in page.headers["Set-Cookie"]
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "camera=()" in page.headers["Permissions-Policy"]
    assert "microphone=()" in page.headers["Permissions-Policy"]
    assert client.get("/healthz").headers["Strict-Transport-Security"].startswith("max-age=")
    c = Console(app.test_client())
    response = c.login(staff["tax"].id)
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    assert all("Secure" in h and "HttpOnly" in h for h in cookies) and len(cookies) == 2


def test_no_hsts_over_plain_http(app):
    response = app.test_client().get("/console/login")
    assert "Strict-Transport-Security" not in response.headers
    assert "Secure" not in response.headers["Set-Cookie"]
    assert "Permissions-Policy" in response.headers


# -- sign-in throttling ------------------------------------------------------------------------


def checked(response) -> bool:
    """Was the password checked (and wrong)? A try refused during a wait is not."""
    return "do not match" in response.get_data(as_text=True)


def test_an_outsider_cannot_lock_an_advisor_out(app, staff, config, redis_client, clock):
    """Finding: five unauthenticated POSTs locked an account for 15 minutes; no one could
    unlock it. Now the waits grow, stop at the longest, and then the right password works."""
    cfg = config.agents
    tara = staff["tax"].id
    guesses = 0
    for i in range(60):  # from many addresses, so only the account's own tally stops them
        response = from_address(app, f"203.0.113.{i + 1}").login(tara, f"guess {i} !!")
        guesses += checked(response)
        if response.status_code == 429:
            clock.shift(cfg.console_max_wait)  # the outsider waits for the window: no longer
    assert guesses > cfg.console_free_failures + 8  # the waits reached the longest
    assert from_address(app, OUTSIDER).login(tara, "one more guess").status_code == 429
    # The advisor right after the outsider's last guess: asked to wait, never longer than the
    # longest wait, and their tries meanwhile do not make it longer.
    advisor = from_address(app, ADVISOR_PC)
    refused = advisor.login(tara)
    assert refused.status_code == 429 and "please wait" in refused.get_data(as_text=True)
    assert not checked(refused)
    for _ in range(10):
        clock.shift(cfg.console_max_wait / 20)
        assert advisor.login(tara).status_code == 429
    clock.shift(cfg.console_max_wait / 2)
    assert advisor.login(tara).status_code == 302
    assert advisor.client.get("/console/").status_code == 200
    assert not redis_client.exists(account_key(tara))  # a good sign-in starts a clean slate
    locked = entries(redis_client, Action.LOCKED)
    assert locked and all(e.target == tara and e.detail["kind"] == "account" for e in locked)
    assert max(e.detail["wait"] for e in locked) == cfg.console_max_wait


def test_the_waits_double(app, staff, config, clock):
    cfg = config.agents
    tara = staff["tax"].id
    outsider = from_address(app, OUTSIDER)
    for i in range(cfg.console_free_failures - 1):
        assert outsider.login(tara, f"wrong {i} wrong").status_code == 401
    first = outsider.login(tara, "wrong again!")  # the first wait starts
    assert first.status_code == 429 and checked(first)
    waits = []
    for _ in range(3):
        waited = 0
        while not checked(outsider.login(tara, "still wrong!")):
            clock.shift(1)
            waited += 1
        waits.append(waited)  # the try that got through failed: the next wait is longer
    assert waits == [cfg.console_first_wait, 2 * cfg.console_first_wait,
                     4 * cfg.console_first_wait]


def test_the_advisors_own_browser_skips_waits_others_cause(app, staff, redis_client, clock):
    tara = staff["tax"].id
    advisor = from_address(app, ADVISOR_PC)
    assert advisor.login(tara).status_code == 302  # this browser now carries a device cookie
    assert advisor.client.get_cookie(DEVICE_COOKIE, path="/console") is not None
    advisor.post("/console/logout")
    for i in range(12):
        from_address(app, f"203.0.113.{i + 1}").login(tara, f"guess {i} !!")
    assert from_address(app, "192.0.2.1").login(tara).status_code == 429  # any other browser
    assert advisor.login(tara).status_code == 302  # theirs: straight in
    signed_in = entries(redis_client, Action.CONSOLE_SIGNIN)
    assert [e.detail["trusted_browser"] for e in signed_in] == [True, False]


def test_a_device_cookie_for_someone_else_or_an_old_password_counts_for_nothing(
        app, staff, redis_client, clock):
    tara, ben = staff["tax"].id, staff["ben"].id
    advisor = from_address(app, ADVISOR_PC)
    assert advisor.login(tara).status_code == 302
    advisor.post("/console/logout")
    for i in range(12):
        from_address(app, f"203.0.113.{i + 1}").login(ben, f"guess {i} !!")
    assert advisor.login(ben).status_code == 429  # Tara's browser is not Ben's
    agents.set_secret(redis_client, tara, "password_hash", "changed by the CLI")
    for i in range(12):
        from_address(app, f"203.0.113.{i + 1}").login(tara, f"guess {i} !!")
    assert advisor.login(tara, "changed by the CLI").status_code == 429


def test_one_client_cannot_try_many_agent_numbers(app, staff, config, redis_client, clock,
                                                  monkeypatch):
    """Finding: 100 attempts over 25 agent numbers from one client got no 429."""
    checks = count_scrypt(monkeypatch)
    scanner = from_address(app, OUTSIDER)
    numbers = [str(1000 + n) for n in range(1, 26)]
    statuses = [scanner.login(number, f"guess {k} !!").status_code
                for k in range(4) for number in numbers]  # 4 a number: under the account's 5
    limit = config.agents.console_client_free_failures
    assert statuses[:limit - 1] == [401] * (limit - 1)
    assert statuses[limit - 1] == 429 and set(statuses[limit:]) == {429}
    refused = scanner.login(staff["tax"].id, PASSWORD)  # even a right guess waits now
    assert refused.status_code == 429
    assert "from this address" in refused.get_data(as_text=True)
    assert len(checks) == limit  # nothing past the limit was even checked
    assert from_address(app, ADVISOR_PC).login(staff["tax"].id).status_code == 302  # others
    (client_lock,) = [e for e in entries(redis_client, Action.LOCKED)
                      if e.detail["kind"] == "client"]
    assert client_lock.target == OUTSIDER


def test_ipv6_clients_count_by_their_64(app, staff, config, clock):
    limit = config.agents.console_client_free_failures
    for i in range(limit):
        from_address(app, f"2001:db8:1:2::{i + 1:x}").login(str(2000 + i), "guess guess!")
    assert from_address(app, "2001:db8:1:2::ffff").login(staff["tax"].id).status_code == 429
    assert from_address(app, "2001:db8:1:3::1").login(staff["tax"].id).status_code == 302


def count_scrypt(monkeypatch) -> list[int]:
    """Every scrypt computation from now on (werkzeug hashes through hashlib.scrypt)."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counted(*args, **kwargs):
        calls.append(kwargs.get("n", 0))
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    return calls


@pytest.mark.parametrize("who", ["known, wrong password", "unknown number",
                                 "known, no password set", "known, right password"])
def test_an_unknown_number_costs_the_same_scrypt_work(app, staff, redis_client, monkeypatch,
                                                      who):
    """Finding: ~170 ms for a real number, ~6.5 ms for an unknown one. Counted in scrypt
    computations (and their cost parameter), never timed."""
    nopw = agents.add(redis_client, name="No Password", departments=(), phone="",
                      role=Role.AGENT, now=time.time())
    agent_id, password = {
        "known, wrong password": (staff["tax"].id, "not the password"),
        "unknown number": ("4321", "not the password"),
        "known, no password set": (nopw.id, "not the password"),
        "known, right password": (staff["tax"].id, PASSWORD),
    }[who]
    console = Console(app.test_client())
    token = console.token()
    checks = count_scrypt(monkeypatch)
    console.client.post("/console/login", data={"agent": agent_id, "password": password,
                                                "csrf_token": token})
    stored = redis_client.hget(agents.AGENT.format(id=staff["tax"].id), "password_hash")
    assert checks == [int(stored.decode().split(":")[1])]  # one scrypt, the same cost


def test_supervisor_unlocks_from_the_agents_page(app, staff, config, redis_client, clock):
    tara = staff["tax"].id
    for i in range(config.agents.console_free_failures + 1):
        from_address(app, f"203.0.113.{i + 1}").login(tara, f"guess {i} !!")
    advisor = from_address(app, ADVISOR_PC)
    assert advisor.login(tara).status_code == 429
    sup = as_user(app, staff["super"])
    html = sup.page("/console/agents")
    assert "failed sign-ins; must wait" in html and f"/console/agents/{tara}/unlock" in html
    assert sup.post(f"/console/agents/{tara}/unlock").status_code == 302
    assert advisor.login(tara).status_code == 302
    (unlocked,) = entries(redis_client, Action.UNLOCKED)
    assert (unlocked.actor, unlocked.target) == (staff["super"].id, tara)
    assert unlocked.detail == {"failures": config.agents.console_free_failures}
    assert as_user(app, staff["tax"]).client.post(
        f"/console/agents/{tara}/unlock").status_code == 400  # no token: refused anyway
    assert as_user(app, staff["tax"]).post(f"/console/agents/{tara}/unlock").status_code == 403


def test_unlock_console_for_the_cli(app, staff, config, redis_client, clock):
    tara = staff["tax"].id
    for i in range(config.agents.console_free_failures):
        from_address(app, f"203.0.113.{i + 1}").login(tara, f"guess {i} !!")
    assert unlock_console(redis_client, tara, now=time.time(), retention_days=30) == 5
    assert unlock_console(redis_client, tara) == 0
    assert from_address(app, ADVISOR_PC).login(tara).status_code == 302
    assert [e.actor for e in entries(redis_client, Action.UNLOCKED)] == ["cli", "cli"]


def test_sign_ins_and_failures_are_audited(app, staff, redis_client, clock):
    tara = staff["tax"].id
    from_address(app, OUTSIDER).login(tara, "hunter2 guess")
    from_address(app, OUTSIDER).login("9876", "hunter2 guess")
    from_address(app, ADVISOR_PC).login(tara)
    failed = entries(redis_client, Action.CONSOLE_SIGNIN_FAILED)
    assert [(e.actor, e.target, e.detail["reason"], e.detail["address"]) for e in failed] == [
        ("anonymous", "9876", "unknown agent", OUTSIDER),
        ("anonymous", tara, "wrong password", OUTSIDER)]
    (signin,) = entries(redis_client, Action.CONSOLE_SIGNIN)
    assert (signin.actor, signin.target, signin.detail["address"]) == (tara, tara, ADVISOR_PC)
    raw = b"".join(v for _, f in redis_client.xrange(audit.STREAM) for v in f.values())
    assert b"hunter2" not in raw and PASSWORD.encode() not in raw


def test_failures_are_forgotten_and_a_sign_in_clears_the_account(app, staff, config,
                                                                 redis_client, clock):
    tara = staff["tax"].id
    outsider = from_address(app, OUTSIDER)
    for i in range(config.agents.console_free_failures - 1):
        outsider.login(tara, f"guess {i} !!")
    clock.shift(config.agents.console_forget_failures)
    for i in range(config.agents.console_free_failures - 1):
        assert outsider.login(tara, f"again {i} !!").status_code == 401
    assert from_address(app, ADVISOR_PC).login(tara).status_code == 302
    assert not redis_client.exists(account_key(tara))


# -- the pure decisions -------------------------------------------------------------------------

POLICY = throttle.Policy(free=5, first=30, cap=900, forget=86400)


@pytest.mark.parametrize("failures,wait", [(0, 0), (4, 0), (5, 30), (6, 60), (7, 120),
                                           (9, 480), (10, 900), (11, 900), (500, 900)])
def test_wait_after(failures, wait):
    assert throttle.wait_after(failures, POLICY) == wait


@pytest.mark.parametrize("tally,now,left", [
    (throttle.Tally(0, 0), 100, 0), (throttle.Tally(4, 100), 100, 0),
    (throttle.Tally(5, 100), 100, 30), (throttle.Tally(5, 100), 120, 10),
    (throttle.Tally(5, 100), 130, 0), (throttle.Tally(7, 100), 100, 120),
    (throttle.Tally(30, 100), 100 + 86400, 0),  # forgotten a day after the last failure
])
def test_remaining(tally, now, left):
    assert throttle.remaining(tally, POLICY, now) == left


@pytest.mark.parametrize("address,counted", [
    ("203.0.113.9", "203.0.113.9"), ("2001:db8:1:2::99", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.9", "203.0.113.9"), ("", "unknown"), ("not an address", "not an address"),
])
def test_client_id(address, counted):
    assert throttle.client_id(address) == counted


@pytest.mark.parametrize("seconds,words", [(0.2, "1 second"), (30, "30 seconds"),
                                           (119.5, "2 minutes"), (900, "15 minutes")])
def test_in_words(seconds, words):
    assert throttle.in_words(seconds) == words


@pytest.mark.parametrize("started,seen,now,why", [
    (0, 0, 1799, ""), (0, 0, 1800, "idle"), (0, 30000, 31000, ""),
    (0, 35999, 36000, "lifetime"), (0, 35000, 36000, "lifetime"),
])
def test_ended_by(started, seen, now, why):
    record = sessions.Record("sid", "1001", started, seen, "mark")
    assert sessions.ended_by(record, now, sessions.Limits(idle=1800, lifetime=36000)) == why


@pytest.mark.parametrize("path,method,poll", [
    ("/console/live.json", "GET", True), ("/console/wallboard.json", "GET", True),
    ("/console/", "GET", False), ("/console/callbacks", "GET", False),
    ("/console/logout", "POST", False), ("/console/recording/RE1", "GET", False),
])
def test_is_poll(path, method, poll):
    assert sessions.is_poll(path, method) is poll


# -- the settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("change,expected", [
    ({"console_lockout_seconds": 900}, ["agents.console_lockout_seconds was replaced",
                                        "console_max_wait"]),
    ({"console_first_wait": 1000, "console_max_wait": 900},
     ["agents.console_first_wait", "longer than agents.console_max_wait"]),
    ({"console_forget_failures": 600, "console_max_wait": 900},
     ["agents.console_forget_failures", "shorter than agents.console_max_wait"]),
    ({"console_idle_minutes": 0}, ["agents.console_idle_minutes"]),
    ({"console_session_hours": 48}, ["agents.console_session_hours"]),
])
def test_console_settings_are_checked(tmp_path, change, expected):
    raw = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["agents"] |= change
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    for fragment in expected:
        assert fragment in str(caught.value), caught.value
