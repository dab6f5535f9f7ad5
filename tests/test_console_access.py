"""Who may do what: every console route (and /metrics) for every kind of visitor.

The table has one row per route and method of the app's URL map; a route added without a row
fails ``test_every_route_has_a_row``. Each row gives the answer for an anonymous visitor, an
advisor of another department, the advisor whose department it is, a supervisor, and a cookie
whose session has ended (signed out, idle too long, past its lifetime), which must fare no
better than no cookie at all.
"""

from __future__ import annotations

import functools
import time

import pytest
import time_machine
from test_console import PASSWORD, TOKEN, Console, as_user

from ivr import agents
from ivr.agents import Role
from ivr.console.session import COOKIE
from voicemail.tasks import RECORDING, TASK, TASK_RECORDINGS, WORKLIST

T0 = "2026-12-01 10:00:00+00:00"
TASK_ID = "CB" + "a" * 20
REC = "RE" + "b" * 32
AUDIO = b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00" + bytes(range(64))
LOGIN = (302, "/console/login")
CARD = (302, f"/console/callbacks#task-{TASK_ID}")  # back to the card, which says what happened
LIST = (302, "/console/callbacks#worklist")
WHO = ("anonymous", "other_department", "advisor", "supervisor", "signed_out", "idle",
       "lifetime")
ENDED = ("signed_out", "idle", "lifetime")


def row(path: str, anonymous, other_department, advisor, supervisor, ended=None, **form):
    """Expected answers: a status, or (302, where to)."""
    answers = {"anonymous": anonymous, "other_department": other_department,
               "advisor": advisor, "supervisor": supervisor}
    answers |= dict.fromkeys(ENDED, anonymous if ended is None else ended)
    return path, form, answers


TABLE = {
    ("console.login", "GET"): row("/console/login", 200, (302, "/console/"), (302, "/console/"),
                                  (302, "/console/")),
    ("console.login", "POST"): row("/console/login", *[(302, "/console/")] * 4,
                                   agent="{tax}", password=PASSWORD),
    ("console.logout", "POST"): row("/console/logout", LOGIN, LOGIN, LOGIN, LOGIN),
    ("console.live", "GET"): row("/console/", LOGIN, 200, 200, 200),
    ("console.live_json", "GET"): row("/console/live.json", 401, 200, 200, 200),
    ("console.wallboard", "GET"): row("/console/wallboard", LOGIN, 200, 200, 200),
    ("console.wallboard_json", "GET"): row("/console/wallboard.json", 401, 200, 200, 200),
    ("console.callbacks_page", "GET"): row("/console/callbacks", LOGIN, 200, 200, 200),
    ("console.call_back", "POST"): row(f"/console/callbacks/{TASK_ID}/call", LOGIN, 404,
                                       CARD, CARD),
    ("console.record_outcome", "POST"): row(
        f"/console/callbacks/{TASK_ID}/outcome", LOGIN, 404, CARD, CARD,
        outcome="no-answer", attempt="1"),
    ("console.filter_callbacks", "POST"): row("/console/callbacks", LOGIN, *[LIST] * 3,
                                              department="council_tax", number="07911"),
    ("console.callbacks_progress", "GET"): row(f"/console/callbacks/progress.json?ids={TASK_ID}",
                                               401, 200, 200, 200),
    ("console.kiosk_links", "GET"): row("/console/kiosk-links", LOGIN, 403, 403, 200),
    ("console.create_kiosk_link", "POST"): row("/console/kiosk-links", LOGIN, 403, 403, 201,
                                               label="Wall"),
    ("console.revoke_kiosk_link", "POST"): row("/console/kiosk-links/WB00000000/revoke", LOGIN,
                                               403, 403, 404),
    # A kiosk needs its link's token, whoever is signed in; a wrong one is not found.
    ("console.kiosk_board", "GET"): row("/console/kiosk/" + "k" * 43, 404, 404, 404, 404),
    ("console.kiosk_json", "GET"): row("/console/kiosk/" + "k" * 43 + "/board.json",
                                       404, 404, 404, 404),
    ("console.recording", "GET"): row(f"/console/recording/{REC}", LOGIN, 404, 200, 200),
    ("console.agents_page", "GET"): row("/console/agents", LOGIN, 403, 403, 200),
    ("console.add_agent", "POST"): row("/console/agents", LOGIN, 403, 403,
                                       (302, "/console/agents"), name="Eve New", role="agent",
                                       password="long enough password"),
    ("console.remove_agent", "POST"): row("/console/agents/{dana}/remove", LOGIN, 403, 403,
                                          (302, "/console/agents"), confirm="yes"),
    ("console.confirm_remove", "GET"): row("/console/agents/{dana}/remove", LOGIN, 403, 403, 200),
    ("console.edit_agent", "GET"): row("/console/agents/{dana}/edit", LOGIN, 403, 403, 200),
    ("console.save_agent", "POST"): row("/console/agents/{dana}/edit", LOGIN, 403, 403,
                                        (302, "/console/agents/{dana}/edit"), name="Dana Edited"),
    ("console.force_state", "POST"): row("/console/agents/{dana}/state", LOGIN, 403, 403,
                                         (302, "/console/agents/{dana}/edit"), state="break"),
    ("console.unlock_line", "POST"): row("/console/agents/{dana}/unlock-line", LOGIN, 403, 403,
                                         (302, "/console/agents/{dana}/edit")),
    ("console.my_state", "GET"): row("/console/me", LOGIN, 200, 200, 200),
    ("console.set_my_state", "POST"): row("/console/me/state", LOGIN, (302, "/console/me"),
                                          (302, "/console/me"), (302, "/console/me"),
                                          state="break"),
    ("console.controls_page", "GET"): row("/console/controls", LOGIN, 403, 403, 200),
    ("console.add_closure", "POST"): row("/console/controls/closures", LOGIN, 403, 403,
                                         (302, "/console/controls"), kind="span", start="10:30",
                                         end="11:00", message="Closed for a staff briefing."),
    ("console.add_announcement", "POST"): row(
        "/console/controls/announcements", LOGIN, 403, 403, (302, "/console/controls"),
        end_date="2026-12-01", end="17:00", message="Bin rounds are late today."),
    ("console.end_control", "POST"): row("/console/controls/closure/abc123/end", LOGIN, 403,
                                         403, (302, "/console/controls")),
    ("console.emergency", "POST"): row("/console/controls/emergency", LOGIN, 403, 403,
                                       (302, "/console/controls"), mode="off"),
    ("console.queue_state", "POST"): row("/console/controls/queues/housing", LOGIN, 403, 403,
                                         (302, "/console/controls"), state="closed"),
    ("console.set_password", "POST"): row("/console/agents/{dana}/password", LOGIN, 403, 403,
                                          (302, "/console/agents"),
                                          password="another long one"),
    ("console.end_sessions", "POST"): row("/console/agents/{dana}/sign-out", LOGIN, 403, 403,
                                          (302, "/console/agents")),
    ("console.unlock", "POST"): row("/console/agents/{dana}/unlock", LOGIN, 403, 403,
                                    (302, "/console/agents")),
    ("console.audit_page", "GET"): row("/console/audit", LOGIN, 403, 403, 200),
    ("console.static", "GET"): row("/console/static/console.css", 200, 200, 200, 200),
    ("metrics", "GET"): row("/metrics", 200, 200, 200, 200),  # loopback, no proxy: no cookie
}


def test_every_route_has_a_row(app):
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("console.") or rule.endpoint == "metrics"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(TABLE)


def test_what_pages_poll_ends_in_json(app, redis_client):
    """``session.is_poll`` counts ``.json`` GETs as polls: the pages poll nothing else."""
    agent = agents.add(redis_client, name="Sam Supervisor", departments=(), phone="",
                       role=Role.SUPERVISOR, now=time.time())
    redis_client.hset(agents.AGENT.format(id=agent.id), "password_hash", _hash())
    c = as_user(app, agents.get(redis_client, agent.id))
    for page in ("/console/", "/console/wallboard"):
        html = c.page(page)
        urls = [part.split('"')[1] for part in html.split("-url=")[1:]]
        polled = [u for u in urls if u != "/console/login"]
        assert polled and all(u.endswith(".json") for u in polled), urls
    json_routes = [rule for rule in app.url_map.iter_rules() if rule.rule.endswith(".json")]
    assert json_routes and all(rule.methods - {"HEAD", "OPTIONS"} == {"GET"}
                               for rule in json_routes)


@functools.cache
def _hash() -> str:
    """One scrypt hash of PASSWORD for every agent here (hashing is the slow part)."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD, method="scrypt")


@pytest.fixture
def world(redis_client, twilio, monkeypatch):
    """Four agents, an open council tax callback with a voicemail, the time frozen."""
    monkeypatch.delenv("IVR_METRICS_TOKEN", raising=False)
    with time_machine.travel(T0, tick=False) as clock:
        staff = {}
        for key, name, depts, phone, role in [
                ("super", "Sam Supervisor", (), "+447911123401", Role.SUPERVISOR),
                ("tax", "Tara Tax", ("council_tax",), "+447911123402", Role.AGENT),
                ("ben", "Ben Benefits", ("benefits",), "+447911123403", Role.AGENT),
                ("dana", "Dana Done", ("housing",), "", Role.AGENT)]:
            agent = agents.add(redis_client, name=name, departments=depts, phone=phone,
                               role=role, now=time.time())
            redis_client.hset(agents.AGENT.format(id=agent.id), "password_hash", _hash())
            staff[key] = agents.get(redis_client, agent.id)
        now = time.time()
        redis_client.hset(TASK.format(id=TASK_ID), mapping={
            "id": TASK_ID, "status": "open", "number": "+447911123456",
            "department": "council_tax", "created_at": now - 600, "due_at": now + 3600,
            "release_at": now - 60, "attempts": 0})
        redis_client.zadd(WORKLIST, {TASK_ID: now + 3600})
        redis_client.rpush(TASK_RECORDINGS.format(id=TASK_ID), REC)
        redis_client.hset(RECORDING.format(id=REC), mapping={
            "status": "completed", "task": TASK_ID, "duration": "7", "left_at": now - 600})
        twilio.recordings[REC] = AUDIO
        yield staff, clock


def visitor(app, who: str, staff, clock, config):
    """A client as ``who``, and the CSRF token its cookie carries."""
    if who == "anonymous":
        c = Console(app.test_client())
        return c.client, c.token()
    person = {"other_department": "ben", "supervisor": "super"}.get(who, "tax")
    c = as_user(app, staff[person])
    token = c.token("/console/")
    idle = config.agents.console_idle_minutes * 60
    if who == "signed_out":
        copied = c.client.get_cookie(COOKIE, path="/console").value
        c.post("/console/logout")
        c = Console(app.test_client())
        c.client.set_cookie(COOKIE, copied, path="/console")
    elif who == "idle":
        clock.shift(idle)
    elif who == "lifetime":  # busy all day: never idle, and still it ends
        lifetime = config.agents.console_session_hours * 3600
        for _ in range(lifetime // (idle - 60)):
            clock.shift(idle - 60)
            assert c.client.get("/console/").status_code == 200
        clock.shift(lifetime % (idle - 60))
    return c.client, token


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("route", list(TABLE), ids=lambda r: f"{r[1]} {r[0]}")
def test_access(app, world, config, route, who):
    staff, clock = world
    path, form, answers = TABLE[route]
    ids = {k: a.id for k, a in staff.items()}
    path = path.format(**ids)
    client, token = visitor(app, who, staff, clock, config)
    if route[1] == "POST":
        data = {k: v.format(**ids) for k, v in form.items()} | {"csrf_token": token}
        response = client.post(path, data=data)
    else:
        response = client.get(path)
    expected = answers[who]
    status, location = expected if isinstance(expected, tuple) else (expected, None)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if location is not None:
        assert response.headers["Location"] == location.format(**ids)
    if status == 200 and route[0] == "console.login":
        assert TOKEN.search(response.get_data(as_text=True))  # the sign-in form, not a page
