"""The agent console through Flask's test client, on the real Redis test database.

Tasks are made the way residents make them (the Caller harness leaves a voicemail) and released
by the real RQ job; Twilio's REST side is the project's stand-in (the ``twilio`` fixture).
"""

from __future__ import annotations

import json
import re
import time

import pytest
import time_machine
from caller import COUNCIL_NUMBER
from jobs import Worker
from rq import Queue
from rq.job import Job

from ivr import agents, events, store
from ivr.agents import Role, State
from ivr.console.session import SECRET
from voicemail.callbacks import attempts
from voicemail.tasks import RECORDING, SCHEDULED, TASK, TASK_RECORDINGS, WORKLIST, load_task
from voicemail.tasks import release_job_id as release_id

CLOSED = "2026-12-01 19:00:00+00:00"  # Tuesday evening: the callback is due on Wednesday
WED_10 = "2026-12-02 10:00:00+00:00"  # Wednesday 10:00 GMT: released, due by 17:00
WED_18 = "2026-12-02 18:00:00+00:00"  # Wednesday 18:00: not called back yet, so overdue
OPEN = "2026-12-01 10:00:00+00:00"
MOBILE = "+447911123456"
PASSWORD = "correct horse battery"
HOSTILE = '"><img src=x onerror=alert(1)>'
SCRIPT = "<script>alert(1)</script>"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Console:
    """An agent's browser session: pages, forms with the CSRF token, JSON."""

    def __init__(self, client) -> None:
        self.client = client

    def token(self, page: str = "/console/login") -> str:
        found = TOKEN.search(self.client.get(page).get_data(as_text=True))
        assert found, f"no CSRF token on {page}"
        return found.group(1)

    def login(self, agent_id: str, password: str = PASSWORD):
        return self.client.post("/console/login", data={
            "agent": agent_id, "password": password, "csrf_token": self.token()})

    def post(self, path: str, token: str | None = "page", **form):
        data = dict(form)
        if token == "page":
            data["csrf_token"] = self.token("/console/")
        elif token is not None:
            data["csrf_token"] = token
        return self.client.post(path, data=data)

    def page(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, response.status_code
        return response.get_data(as_text=True)

    def live(self) -> dict:
        response = self.client.get("/console/live.json")
        assert response.status_code == 200
        return response.get_json()


def add_agent(r, name: str, departments=(), phone: str = "", role: Role = Role.AGENT,
              password: str = PASSWORD, state: State | None = None):
    agent = agents.add(r, name=name, departments=departments, phone=phone, role=role,
                       now=time.time())
    agents.set_secret(r, agent.id, "password_hash", password)
    if state is not None:
        agents.set_state(r, agent, state, time.time())
    return agents.get(r, agent.id)


@pytest.fixture
def staff(redis_client):
    """A supervisor (all departments), a council tax agent with a phone, a benefits agent."""
    return {
        "super": add_agent(redis_client, "Sam Supervisor", (), "+447911123401", Role.SUPERVISOR),
        "tax": add_agent(redis_client, "Tara Tax", ("council_tax",), "+447911123402"),
        "ben": add_agent(redis_client, "Ben Benefits", ("benefits",), ""),
    }


@pytest.fixture
def console(app):
    return Console(app.test_client())


def as_user(app, agent, password: str = PASSWORD) -> Console:
    c = Console(app.test_client())
    assert c.login(agent.id, password).status_code == 302
    return c


def leave_voicemail(make_caller, dept: str, number: str = MOBILE) -> tuple[str, str]:
    """A resident leaves a message (the real voicemail flow); returns (task id, recording)."""
    caller = make_caller(number)
    doc = caller.post(f"/voicemail/start?dept={dept}")
    assert doc.has("Record"), doc.xml
    _, rec, status_url = caller.record()
    caller.recording_ready(status_url, rec)
    r = caller.client.application.extensions["ivr"].redis
    return r.hget(RECORDING.format(id=rec), "task").decode(), rec


def release(redis_client, task_id: str) -> None:
    """What the RQ worker does at the opening of the callback day: run the release job."""
    queue = Queue("callbacks", connection=redis_client)
    queue.enqueue_job(Job.fetch(release_id(task_id), connection=redis_client))
    Worker([queue], connection=redis_client).work(burst=True)
    assert load_task(redis_client, task_id)["status"] == "open"


def section(html: str, name: str) -> str:
    found = re.search(rf'<section id="{name}".*?</section>', html, re.S)
    assert found, name
    return found.group(0)


def kinds(redis_client) -> list[str]:
    return [e["event"] for e in events.read_all(redis_client)]


# -- signing in ----------------------------------------------------------------------------


def test_login_page_headers_and_cookie(console):
    response = console.client.get("/console/login")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "<script>" not in response.get_data(as_text=True)  # no inline script


def test_login_ok_then_pages(console, staff):
    response = console.login(staff["tax"].id)
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    assert "Tara Tax" in console.page("/console/")
    assert console.client.get("/console/login").status_code == 302  # already signed in


@pytest.mark.parametrize("agent_id,password", [("tax", "wrong password!"), ("9999", PASSWORD),
                                               ("tax", ""), ("x' or 1=1", PASSWORD)])
def test_login_refused(console, staff, agent_id, password):
    agent_id = staff[agent_id].id if agent_id in staff else agent_id
    response = console.login(agent_id, password)
    assert response.status_code == 401
    assert "do not match" in response.get_data(as_text=True)
    assert console.client.get("/console/").status_code == 302
    assert console.client.get("/console/live.json").status_code == 401


def test_logout(console, staff):
    console.login(staff["tax"].id)
    response = console.post("/console/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/console/login"
    assert console.client.get("/console/").status_code == 302
    assert console.client.get("/console/live.json").status_code == 401


def test_session_secret_shared_by_workers(make_app, staff, redis_client, monkeypatch):
    """Two processes (apps) share the Redis secret: a cookie from one works on the other."""
    monkeypatch.delenv("IVR_SECRET_KEY", raising=False)
    first, second = make_app(), make_app()
    c = Console(first.test_client())
    c.login(staff["tax"].id)
    cookie = c.client.get_cookie("ivr_console", path="/console")
    other = second.test_client()
    other.set_cookie("ivr_console", cookie.value, path="/console")
    assert other.get("/console/").status_code == 200
    assert redis_client.exists(SECRET)


def test_secret_from_environment(make_app, staff, redis_client, monkeypatch):
    monkeypatch.setenv("IVR_SECRET_KEY", "s3cret-from-the-environment")
    c = Console(make_app().test_client())
    assert c.login(staff["tax"].id).status_code == 302
    assert not redis_client.exists(SECRET)


def test_webhooks_never_open_a_session(caller, redis_client):
    """Only /console uses the session: a call never waits on Redis for the cookie secret."""
    assert caller.ring().root.tag == "Response"
    assert caller.client.get("/healthz").headers.get("Set-Cookie") is None
    assert not redis_client.exists(SECRET)


def test_password_change_ends_other_sessions(app, staff, redis_client):
    c = as_user(app, staff["tax"])
    agents.set_secret(redis_client, staff["tax"].id, "password_hash", "a brand new password")
    assert c.client.get("/console/").status_code == 302


def test_removed_agent_is_signed_out(app, staff, redis_client):
    c = as_user(app, staff["ben"])
    agents.remove(redis_client, staff["ben"].id)
    assert c.client.get("/console/live.json").status_code == 401


# -- CSRF ----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_login_needs_csrf(console, staff, token):
    data = {"agent": staff["tax"].id, "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    console.client.get("/console/login")
    assert console.client.post("/console/login", data=data).status_code == 400
    assert console.client.get("/console/").status_code == 302


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_forms_need_csrf_and_change_nothing(app, staff, redis_client, make_caller, token):
    with time_machine.travel(CLOSED, tick=False):
        task_id, _ = leave_voicemail(make_caller, "council_tax")
    release(redis_client, task_id)
    sup = as_user(app, staff["super"])
    before = len(agents.all_agents(redis_client))
    posts = [
        (f"/console/callbacks/{task_id}/outcome", {"outcome": "answered"}),
        (f"/console/callbacks/{task_id}/call", {}),
        ("/console/agents", {"name": "Eve", "role": "supervisor", "password": "x" * 12}),
        (f"/console/agents/{staff['tax'].id}/remove", {}),
        (f"/console/agents/{staff['tax'].id}/password", {"password": "taken over!!"}),
        ("/console/logout", {}),
    ]
    for path, form in posts:
        assert sup.post(path, token=token, **form).status_code == 400, path
    assert attempts(redis_client, task_id) == []
    assert load_task(redis_client, task_id)["status"] == "open"
    assert len(agents.all_agents(redis_client)) == before
    assert agents.check_secret(redis_client, staff["tax"].id, "password_hash", PASSWORD)
    assert sup.client.get("/console/").status_code == 200  # still signed in


# -- who sees what -------------------------------------------------------------------------


def test_agent_sees_own_departments_supervisor_all(app, staff, config):
    tax = as_user(app, staff["tax"]).live()
    assert [d["id"] for d in tax["departments"]] == ["council_tax"]
    assert {a["name"] for a in tax["agents"]} == {"Tara Tax", "Sam Supervisor"}
    sup = as_user(app, staff["super"]).live()
    assert [d["id"] for d in sup["departments"]] == list(config.departments)
    assert {a["name"] for a in sup["agents"]} == {"Tara Tax", "Sam Supervisor", "Ben Benefits"}
    assert "Agents</a>" not in as_user(app, staff["tax"]).page("/console/")


def test_manage_agents_is_for_supervisors_only(app, staff, redis_client):
    tax = as_user(app, staff["tax"])
    assert tax.client.get("/console/agents").status_code == 403
    form = {"name": "Mallory", "role": "supervisor", "password": "x" * 12}
    assert tax.post("/console/agents", **form).status_code == 403
    assert tax.post(f"/console/agents/{staff['ben'].id}/remove").status_code == 403
    assert tax.post(f"/console/agents/{staff['ben'].id}/password",
                    password="y" * 12).status_code == 403
    assert len(agents.all_agents(redis_client)) == 3
    assert agents.check_secret(redis_client, staff["ben"].id, "password_hash", PASSWORD)


def test_supervisor_adds_sets_password_and_removes(app, staff, redis_client):
    sup = as_user(app, staff["super"])
    response = sup.post("/console/agents", name="  Hana   Housing ", departments="housing",
                        phone="07911 123403", role="agent", password="first password", pin="493817")
    assert response.status_code == 302
    added = [a for a in agents.all_agents(redis_client) if a.name == "Hana Housing"]
    assert len(added) == 1
    hana = added[0]
    assert hana.departments == ("housing",) and hana.phone == "+447911123403"
    assert agents.check_secret(redis_client, hana.id, "pin_hash", "493817")
    raw = redis_client.hgetall(agents.AGENT.format(id=hana.id))
    assert b"first password" not in b"".join(raw.values())
    assert f"Added agent {hana.id}" in sup.page("/console/agents")
    assert as_user(app, hana, "first password").live()["departments"][0]["id"] == "housing"

    sup.post(f"/console/agents/{hana.id}/password", password="second password")
    assert Console(app.test_client()).login(hana.id, "first password").status_code == 401
    assert Console(app.test_client()).login(hana.id, "second password").status_code == 302

    assert sup.post(f"/console/agents/{hana.id}/remove").headers["Location"] == \
        f"/console/agents/{hana.id}/remove"  # the confirmation page first
    assert agents.get(redis_client, hana.id) is not None
    sup.post(f"/console/agents/{hana.id}/remove", confirm="yes")
    assert agents.get(redis_client, hana.id) is None
    assert sup.post(f"/console/agents/{staff['super'].id}/remove").status_code == 302
    assert agents.get(redis_client, staff["super"].id) is not None  # not yourself


@pytest.mark.parametrize("form,problem", [
    ({"phone": "12345"}, "not a UK number"),
    ({"password": "short"}, "at least"),
    ({"departments": "nowhere"}, "Choose departments"),
    ({"role": "root"}, "Choose a role"),
    ({"name": ""}, "A name is needed"),
    ({"name": "Eve \u202eevil"}, "text-direction character U+202E"),
    ({"name": "x" * 300}, "at most 60 characters"),
    ({"pin": "123456"}, "PIN"),
    ({"phone": "+447911123402"}, "already belongs"),  # Tara's phone
])
def test_add_agent_validation(app, staff, redis_client, form, problem):
    sup = as_user(app, staff["super"])
    data = {"name": "New Person", "role": "agent", "password": "long enough pw"} | form
    sup.post("/console/agents", **data)
    assert len(agents.all_agents(redis_client)) == 3
    assert problem in sup.page("/console/agents")


# -- the live view -------------------------------------------------------------------------


def test_live_figures_follow_the_queues(app, staff, redis_client, make_caller):
    """Callers ring and choose a department (the real flow); the live view counts them."""
    with time_machine.travel(OPEN, tick=False) as traveller:
        agents.set_state(redis_client, staff["tax"], State.AVAILABLE, time.time())
        tax = as_user(app, staff["tax"])
        first = make_caller("+441206282300")
        first.ring()
        first.press("2")
        assert first.follow().verbs[-1] == "Enqueue"
        traveller.shift(40)
        second = make_caller("+441206282301")
        second.post("/voice/queue/council_tax/enter")
        traveller.shift(55)
        live = tax.live()
        row = live["departments"][0]
        assert (row["id"], row["waiting"], row["longest_seconds"]) == ("council_tax", 2, 95)
        assert row["longest"] == "1 minute 35 seconds"
        assert live["waiting"] == 2
        states = {a["name"]: (a["state"], a["in_state_seconds"]) for a in live["agents"]}
        assert states["Tara Tax"] == ("available", 95)
        assert redis_client.zcard(store.queue_key("council_tax")) == 2
        html = tax.page("/console/")
        assert "1 minute 35 seconds" in html and 'data-live-url="/console/live.json"' in html


# -- the callbacks worklist ----------------------------------------------------------------


@pytest.fixture
def tasks(redis_client, make_caller):
    """Council tax and benefits voicemails left on Tuesday evening (the real flow)."""
    with time_machine.travel(CLOSED, tick=False):
        tax, tax_rec = leave_voicemail(make_caller, "council_tax", MOBILE)
        ben, _ = leave_voicemail(make_caller, "benefits", "+441206282300")
    return {"tax": tax, "tax_rec": tax_rec, "ben": ben}


def test_scheduled_then_due_then_overdue(app, staff, redis_client, tasks):
    with time_machine.travel(CLOSED, tick=False):
        html = as_user(app, staff["super"]).page("/console/callbacks")
    assert tasks["tax"] in section(html, "scheduled") and tasks["ben"] in section(html, "scheduled")
    assert "07911 123456" in section(html, "scheduled")
    release(redis_client, tasks["tax"])
    release(redis_client, tasks["ben"])
    with time_machine.travel(WED_10, tick=False):
        tax_view = as_user(app, staff["tax"]).page("/console/callbacks")
        sup_view = as_user(app, staff["super"]).page("/console/callbacks")
    assert tasks["tax"] in section(tax_view, "due") and tasks["ben"] not in tax_view
    assert tasks["tax"] in section(sup_view, "due") and tasks["ben"] in section(sup_view, "due")
    assert "Council Tax" in tax_view
    assert "Tue 1 Dec 19:00" in tax_view and "Wed 2 Dec 17:00" in tax_view  # left at, due by
    assert f'src="/console/recording/{tasks["tax_rec"]}"' in tax_view
    assert "api.twilio.com" not in sup_view
    with time_machine.travel(WED_18, tick=False):
        html = as_user(app, staff["tax"]).page("/console/callbacks")
    assert tasks["tax"] in section(html, "overdue") and tasks["tax"] not in section(html, "due")


def test_call_back_rings_the_agent_first(app, staff, redis_client, tasks, twilio, make_caller):
    release(redis_client, tasks["tax"])
    tax = as_user(app, staff["tax"])
    response = tax.post(f"/console/callbacks/{tasks['tax']}/call")
    assert response.status_code == 302
    assert "Your phone is ringing" in tax.page("/console/callbacks")
    (call,) = twilio.calls
    assert call["to"] == staff["tax"].phone and call["from"] == COUNCIL_NUMBER
    assert call["url"].startswith("http://localhost/agent/callback/bridge?")
    assert f"task={tasks['tax']}" in call["url"] and f"agent={staff['tax'].id}" in call["url"]
    # Twilio fetches the bridge document when the agent answers: it dials the resident.
    agent_leg = make_caller(COUNCIL_NUMBER, to=staff["tax"].phone, call_sid=call["sid"])
    doc = agent_leg.post(call["url"])
    assert doc.first("Number").text.strip() == MOBILE
    agent_leg.dial_result("completed", duration=90)
    assert load_task(redis_client, tasks["tax"])["status"] == "done"


def test_call_back_without_phone_or_when_twilio_fails(app, staff, redis_client, tasks, twilio):
    release(redis_client, tasks["ben"])
    ben = as_user(app, staff["ben"])
    ben.post(f"/console/callbacks/{tasks['ben']}/call")
    assert "no phone number on your agent record" in ben.page("/console/callbacks")
    sup = as_user(app, staff["super"])
    twilio.fail_next = 5  # twilio's client does not retry; one failure is enough
    sup.post(f"/console/callbacks/{tasks['ben']}/call")
    assert "could not be started" in sup.page("/console/callbacks")
    assert twilio.calls == []
    assert not redis_client.exists(f"{{ivr}}:cb:claim:{tasks['ben']}")
    assert as_user(app, staff["tax"]).post(
        f"/console/callbacks/{tasks['ben']}/call").status_code == 404  # not their department


def test_record_outcome_answered_is_done(app, staff, redis_client, tasks):
    release(redis_client, tasks["tax"])
    tax = as_user(app, staff["tax"])
    tax.post(f"/console/callbacks/{tasks['tax']}/outcome", outcome="answered", attempt=1)
    task = load_task(redis_client, tasks["tax"])
    assert task["status"] == "done"
    (attempt,) = attempts(redis_client, tasks["tax"])
    assert attempt["agent"] == staff["tax"].id and attempt["outcome"] == "answered"
    assert attempt["manual"] is True and "supervisor" not in attempt  # recorded by hand
    assert kinds(redis_client)[-2:] == ["CALLBACKATTEMPT", "CALLBACKDONE"]
    html = tax.page("/console/callbacks")
    assert "Callback done." in html
    assert tasks["tax"] in section(html, "closed") and "Tara Tax, answered" in html
    assert "recorded by hand, no dial result" in section(html, "closed")
    assert tasks["tax"] not in section(html, "due")
    response = tax.post(f"/console/callbacks/{tasks['tax']}/outcome", outcome="answered",
                        attempt=1)
    assert response.status_code == 409 and len(attempts(redis_client, tasks["tax"])) == 1
    assert "already closed" in response.get_data(as_text=True)


def test_record_outcome_until_unreachable(app, staff, redis_client, tasks, config):
    release(redis_client, tasks["tax"])
    tax = as_user(app, staff["tax"])
    limit = config.callbacks_work.max_attempts
    with time_machine.travel(time.time(), tick=False) as traveller:
        for n, outcome in enumerate(["no-answer", "busy", "no-answer"][:limit], start=1):
            if n > 1:
                traveller.shift(config.callbacks_work.retry_gap)  # each after the retry gap
                tax = as_user(app, staff["tax"])  # hours later: the console session has idled
            tax.post(f"/console/callbacks/{tasks['tax']}/outcome", outcome=outcome, attempt=n)
            status = load_task(redis_client, tasks["tax"])["status"]
            assert status == ("unreachable" if n == limit else "open")
        html = tax.page("/console/callbacks")
    assert [a["outcome"] for a in attempts(redis_client, tasks["tax"])] == [
        "no-answer", "busy", "no-answer"][:limit]
    assert kinds(redis_client)[-2:] == ["CALLBACKATTEMPT", "CALLBACKUNREACHABLE"]
    sms = Queue("messages", connection=redis_client).jobs
    assert len(sms) == 1 and sms[0].args[0] == MOBILE  # we tried: how to reach us online
    assert tasks["tax"] in section(html, "closed") and "closed as unreachable" in html


def test_record_outcome_refuses_odd_values_and_other_departments(app, staff, redis_client, tasks):
    release(redis_client, tasks["tax"])
    release(redis_client, tasks["ben"])
    tax = as_user(app, staff["tax"])
    for outcome in ["", "canceled", "done", "<b>"]:
        assert tax.post(f"/console/callbacks/{tasks['tax']}/outcome",
                        outcome=outcome).status_code == 400
    assert tax.post(f"/console/callbacks/{tasks['ben']}/outcome",
                    outcome="answered").status_code == 404
    assert tax.post("/console/callbacks/CBnot-a-task/outcome",
                    outcome="answered").status_code == 404
    assert attempts(redis_client, tasks["tax"]) == attempts(redis_client, tasks["ben"]) == []


def test_recording_is_streamed_only_to_signed_in_agents(app, staff, tasks, twilio):
    rec = tasks["tax_rec"]
    audio = b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00" + bytes(range(256))
    twilio.recordings[rec] = audio
    anonymous = app.test_client()
    assert anonymous.get(f"/console/recording/{rec}").status_code == 302
    assert twilio.requests == []
    tax = as_user(app, staff["tax"])
    response = tax.client.get(f"/console/recording/{rec}")
    assert response.status_code == 200 and response.data == audio
    assert response.mimetype == "audio/mpeg" and "no-store" in response.headers["Cache-Control"]
    method, url, _ = twilio.requests[-1]
    assert method == "GET" and url.endswith(f"/Recordings/{rec}.mp3")
    ranged = tax.client.get(f"/console/recording/{rec}", headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206 and ranged.data == audio[:4]
    assert as_user(app, staff["ben"]).client.get(f"/console/recording/{rec}").status_code == 404
    assert tax.client.get("/console/recording/RE" + "0" * 32).status_code == 404
    del twilio.recordings[rec]
    assert tax.client.get(f"/console/recording/{rec}").status_code == 502


# -- nothing a caller controls becomes markup ------------------------------------------------


def test_hostile_values_are_escaped(app, staff, redis_client):
    evil = add_agent(redis_client, SCRIPT, ("council_tax",), "", state=State.AVAILABLE)
    now = time.time()
    task_id = "CB" + "e" * 20
    redis_client.hset(TASK.format(id=task_id), mapping={
        "id": task_id, "status": "open", "number": HOSTILE, "department": HOSTILE,
        "created_at": now - 600, "due_at": now + 3600, "release_at": now - 60, "attempts": 1})
    redis_client.zadd(WORKLIST, {task_id: now + 3600})
    redis_client.rpush(TASK_RECORDINGS.format(id=task_id), HOSTILE)
    redis_client.hset(RECORDING.format(id=HOSTILE), mapping={
        "status": "completed", "task": task_id, "duration": "7", "left_at": now - 600})
    redis_client.rpush(f"{{ivr}}:cb:task:{task_id}:attempts", json.dumps(
        {"agent": SCRIPT, "at": now - 300, "outcome": HOSTILE}))
    redis_client.zadd(SCHEDULED, {HOSTILE: now})
    sup = as_user(app, staff["super"])
    pages = [sup.page(p) for p in ("/console/", "/console/callbacks", "/console/agents")]
    pages.append(as_user(app, evil).page("/console/"))
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "onerror=alert(1)>" not in html.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in pages[1]
    assert "/console/recording/" not in pages[1]  # an odd recording id is never fetched
    response = sup.client.get("/console/live.json")
    assert response.mimetype == "application/json"
    assert SCRIPT in {a["name"] for a in response.get_json()["agents"]}


def test_console_without_redis_says_so_and_calls_go_on(down_app):
    client = down_app.test_client()
    response = client.get("/console/login")
    assert response.status_code == 503
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    health = client.get("/healthz")  # never 200 "ok" with Redis down: /readyz says why
    assert health.status_code == 503
    assert health.get_json() == {"ok": False, "redis": False, "spooled": 0}


def test_advisors_see_their_own_day_supervisors_everyones(app, staff, redis_client):
    """The live view's per-advisor figures: a supervisor sees every advisor's, an advisor
    only their own (a colleague's row shows its state, not its figures)."""
    agents.set_state(redis_client, staff["tax"], State.AVAILABLE, time.time() - 60)
    tara = {a["id"]: a for a in as_user(app, staff["tax"]).live()["agents"]}
    assert tara[staff["tax"].id]["occupancy"] == "0%"  # available a minute, nothing busy
    assert tara[staff["super"].id]["occupancy"] == "–"
    assert tara[staff["super"].id]["state_label"] == "Signed out"
    sam = {a["id"]: a for a in as_user(app, staff["super"]).live()["agents"]}
    assert sam[staff["tax"].id]["occupancy"] == "0%"
    assert sam[staff["tax"].id]["calls"] == 0
