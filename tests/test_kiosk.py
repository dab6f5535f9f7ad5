"""Wallboard kiosk links: a token stored hashed, revocable, audited; the kiosk page itself
(no sign-in, no navigation, no personal data); the supervisor's page and the CLI."""

from __future__ import annotations

import re

from conftest import TEST_REDIS_URL
from test_console import as_user, leave_voicemail, staff  # noqa: F401 - fixture

from ivr import audit, kiosk
from ivr.audit import Action
from ivr.cli import main


def every_stored_value(r) -> str:
    """Every key and value in the test database, as one string."""
    out = []
    for key in r.scan_iter():
        out.append(key.decode())
        kind = r.type(key).decode()
        if kind == "hash":
            out += [f"{k.decode()} {v.decode(errors='replace')}" for k, v in r.hgetall(key).items()]
        elif kind == "string":
            out.append(r.get(key).decode(errors="replace"))
    return "\n".join(out)


def test_a_link_opens_until_revoked_and_its_token_is_never_stored(redis_client):
    link, token = kiosk.create(redis_client, "Floor 2\x07 wall", "1001", 100.0)
    assert re.fullmatch(r"WB[0-9a-f]{8}", link.id) and kiosk.TOKEN.fullmatch(token)
    assert link.label == "Floor 2 wall"  # control characters dropped
    assert kiosk.check(redis_client, token) == link
    assert token not in every_stored_value(redis_client)  # only its SHA-256
    assert kiosk.check(redis_client, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert kiosk.check(redis_client, "../../etc") is None
    assert kiosk.all_links(redis_client) == [link]
    assert kiosk.revoke(redis_client, "WB00000000") is None
    assert kiosk.revoke(redis_client, link.id) == link
    assert kiosk.check(redis_client, token) is None
    assert kiosk.all_links(redis_client) == []


def test_the_kiosk_shows_the_board_and_nothing_personal(app, staff, redis_client,  # noqa: F811
                                                       make_caller):
    leave_voicemail(make_caller, "council_tax")  # a resident's number exists in Redis
    link, token = kiosk.create(redis_client, "Wall", staff["super"].id, 100.0)
    client = app.test_client()  # nobody signed in
    response = client.get(f"/console/kiosk/{token}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<nav" not in html and "Sign out" not in html and "Live view" not in html
    for personal in ("Sam Supervisor", "Tara Tax", "Ben Benefits", "07911", "+4479"):
        assert personal not in html
    assert 'data-field="abandoned"' in html and 'data-field="average_answer"' in html
    assert html.count('class="wb-card"') == 5 + 1  # every department, and the template
    data = client.get(f"/console/kiosk/{token}/board.json").get_json()
    assert [d["id"] for d in data["departments"]] == list(app.extensions["ivr"].config
                                                          .departments)
    assert {"abandoned", "average_answer"} <= set(data["total"])
    assert "Set-Cookie" not in response.headers  # no session for a wall screen
    kiosk.revoke(redis_client, link.id)
    assert client.get(f"/console/kiosk/{token}").status_code == 404
    assert client.get(f"/console/kiosk/{token}/board.json").status_code == 404


def test_supervisor_creates_and_revokes_from_the_console(app, staff, redis_client):  # noqa: F811
    sam = as_user(app, staff["super"])
    html = sam.page("/console/kiosk-links")
    token_field = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    made = sam.client.post("/console/kiosk-links", data={"csrf_token": token_field,
                                                          "label": "Reception"})
    assert made.status_code == 201
    url = re.search(r'value="(http://[^"]+/console/kiosk/([^"]+))"', made.get_data(as_text=True))
    assert url and kiosk.check(redis_client, url.group(2)) is not None
    (link,) = kiosk.all_links(redis_client)
    assert url.group(2) not in sam.page("/console/kiosk-links")  # shown once only
    gone = sam.client.post(f"/console/kiosk-links/{link.id}/revoke",
                           data={"csrf_token": token_field})
    assert gone.status_code == 302 and kiosk.all_links(redis_client) == []
    entries = audit.read(redis_client, actor=staff["super"].id)
    assert [(e.action, e.target, e.detail.get("label")) for e in entries[:2]] == [
        (Action.WALLBOARD_LINK_REVOKED, link.id, "Reception"),
        (Action.WALLBOARD_LINK_CREATED, link.id, "Reception")]
    assert "revoked a wallboard kiosk link" in sam.page("/console/audit")


def test_the_cli_creates_lists_and_revokes(redis_client, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    assert main(["wallboard-link", "create", "--label", "Floor 1",
                 "--base-url", "https://council.example/"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"created (WB[0-9a-f]{8}) .*\nhttps://council.example/console/kiosk/(\S+)",
                      out)
    assert found and kiosk.check(redis_client, found.group(2)).label == "Floor 1"
    assert main(["wallboard-link", "list"]) == 0
    listed = capsys.readouterr().out
    assert found.group(1) in listed and found.group(2) not in listed
    assert main(["wallboard-link", "revoke", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: id:") and err.count("\n") == 1
    assert main(["wallboard-link", "revoke", "WB00000000"]) == 2
    assert main(["wallboard-link", "revoke", found.group(1)]) == 0
    assert kiosk.check(redis_client, found.group(2)) is None
    assert [e.action for e in audit.read(redis_client, actor="cli")] == [
        Action.WALLBOARD_LINK_REVOKED, Action.WALLBOARD_LINK_CREATED]


def test_access_log_lines_name_no_kiosk_token(tmp_path):
    """gunicorn's access log (``ivr.gunicorn_conf``) keeps a kiosk's polls, not its token."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from ivr import gunicorn_conf

    token = "Ab-_" + "x" * 40
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    log = gunicorn_conf.AccessLog(cfg)
    page = f"https://ivr.example.gov.uk/console/kiosk/{token}"
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/console/kiosk/{token}/board.json",
               "PATH_INFO": f"/console/kiosk/{token}/board.json", "QUERY_STRING": "",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": page}
    req = SimpleNamespace(headers=[("REFERER", page)])
    resp = SimpleNamespace(status="200 OK", headers=[], sent=10)
    log.access(resp, req, environ, timedelta(milliseconds=3))
    cfg.set("access_log_format", '%(U)s %({referer}i)s')
    log.access(resp, req, environ, timedelta(milliseconds=3))
    text = (tmp_path / "access.log").read_text()
    assert len(text.splitlines()) == 2
    assert token not in text
    assert text.count("/console/kiosk/***") == 4  # request line, Referer; path, Referer
    assert kiosk.redact("/console/wallboard") == "/console/wallboard"
