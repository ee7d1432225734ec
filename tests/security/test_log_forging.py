"""Finding 4 (medium): log forging.

The access log wrote the percent-decoded path, so ``%0a`` followed by a fake timestamp wrote a
fake CRITICAL line, and ``%1b`` colour escapes reached the access and auth-warning logs; a newline
in a staff actor did the same. Every logged value is escaped, the access log writes the path as
sent (and cut short), and control characters are refused in actors and reasons.
"""
from __future__ import annotations

import logging

import pytest

from matcher import InputError
from routing import Router, parse_panels, proposals_from_items
from service.logs import EscapeControlFilter, SafeFormatter, escape_control
from service.server import log_config

from routing_support import FakeMatcher, panels_yaml, proposal_rows, three_panels
from security_support import KEY, finished_run, staff_client

FAKE_LINE = "%0a2030-01-01%2000:00:00,000%20CRITICAL%20guide_match:%20database%20wiped"
ESCAPES = "%1b[31mred%1b[0m"


def _lines(records) -> list[str]:
    """The records as guide-match serve writes them (its formatter), one string each."""
    formatter = SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    return [formatter.format(r) for r in records]


@pytest.fixture
def client(tmp_path):
    with staff_client(tmp_path) as c:
        yield c


def test_a_newline_in_the_path_writes_no_second_line(client, caplog):
    caplog.set_level(logging.INFO, logger="guide_match")
    assert client.get("/nope" + FAKE_LINE).status_code == 404
    assert client.get("/v1/routing/runs/x" + FAKE_LINE + ESCAPES, headers={"X-API-Key": "wrong"}).status_code == 401
    lines = _lines(caplog.records)
    assert lines and all("\n" not in line and "\x1b" not in line for line in lines)
    access = [r.getMessage() for r in caplog.records if r.name == "guide_match.service.access"]
    assert any("/nope%0a2030-01-01%2000:00:00" in m for m in access)  # the path as sent, still encoded
    auth = [r.getMessage() for r in caplog.records if r.name == "guide_match.service.auth"]
    assert auth and all("\n" not in m and "\x1b" not in m for m in auth)


def test_a_long_path_is_cut_in_the_log(client, caplog):
    caplog.set_level(logging.INFO, logger="guide_match")
    client.get("/" + "a" * 60_000)  # the test client's own URL limit is 65,536
    access = [r.getMessage() for r in caplog.records if r.name == "guide_match.service.access"]
    assert access and len(access[-1]) < 400 and "(60001 chars)" in access[-1]


def test_the_filter_and_the_formatter_escape_every_control_character():
    record = logging.LogRecord("guide_match.x", logging.INFO, __file__, 1, "by %s from %s", ("王\n2030 CRITICAL", "\x1b[31m"), None)
    EscapeControlFilter().filter(record)
    assert record.getMessage() == "by 王\\n2030 CRITICAL from \\x1b[31m"
    raw = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "bad\r\ninput\u2028", (), None)
    assert "\n" not in SafeFormatter().format(raw) and "\\u2028" in SafeFormatter().format(raw)
    assert escape_control("a\tb\x00c\x7f") == "a\\tb\\x00c\\x7f"


def test_serve_installs_the_safe_formatter():
    config = log_config("INFO")
    assert config["formatters"]["plain"]["()"] == "service.logs.SafeFormatter"


def test_an_unhandled_error_logs_its_traceback_without_its_message(tmp_path, caplog):
    secret = "".join(["机密", "申报书", "\n2030 CRITICAL forged"])

    class Broken(FakeMatcher):
        def match_many(self, texts, **kw):
            raise ValueError(secret)  # the traceback's source line shows the name, not the text

    caplog.set_level(logging.ERROR, logger="guide_match")
    with staff_client(tmp_path, matcher=Broken()) as c:
        r = c.post("/v1/routing/runs", json={"items": proposal_rows([("p1", "d1=0.9")])}, headers=KEY)
    if r.status_code == 202:  # a routing job: the failure is the job's, not the request's
        return
    assert r.status_code == 500
    text = "\n".join(_lines(caplog.records))
    assert "机密申报书" not in text and "forged" not in text
    assert "Traceback" in text and "message withheld" in text


@pytest.mark.parametrize("actor", ["王老师\n2030-01-01 CRITICAL forged", "\x1b[31m王", "a\rb", "tab\there"])
def test_control_characters_in_an_actor_are_refused(client, actor):
    r = client.post("/v1/routing/runs", json={"items": proposal_rows([("p1", "d1=0.9")]), "actor": actor}, headers=KEY)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_text" and r.json()["error"]["field"] == "actor"


def test_control_characters_in_a_reason_or_actor_of_an_override_are_refused(client):
    run = finished_run(client, client.post("/v1/routing/runs", json={"items": proposal_rows([("p1", "d1=0.9")])},
                                           headers=KEY))
    url = f"/v1/routing/runs/{run['run_id']}/overrides"
    for body in ({"proposal_id": "p1", "panel_id": "B", "reason": "理由\n2030 CRITICAL"},
                 {"proposal_id": "p1", "panel_id": "B", "reason": "理由", "actor": "\x1b[2J"}):
        r = client.post(url, json=body, headers=KEY)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_text", r.text


def test_the_command_line_refuses_them_too(tmp_path):
    router = Router(FakeMatcher(), tmp_path / "r.sqlite", parse_panels(panels_yaml(three_panels()), "p.yaml"))
    with pytest.raises(InputError, match="actor must be one line"):
        router.route(proposals_from_items(proposal_rows([("p1", "d1=0.9")])), actor="王\n老师")
    state = router.route(proposals_from_items(proposal_rows([("p1", "d1=0.9")])), actor="王老师")
    with pytest.raises(InputError, match="reason must be one line"):
        router.override(state.run_id, "p1", "B", reason="a\x1bb", actor="王老师")
