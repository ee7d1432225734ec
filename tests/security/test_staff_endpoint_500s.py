"""Finding 5 (low–medium): six 500s on the staff routing endpoint, and their twins on the public ones.

Options are validated before any matching work; JSON nested 50,000 deep or holding a 5,000-digit
integer is refused by the request guard for every endpoint; every item field gets the public API's
text checks (a lone surrogate is refused instead of breaking the run key).
"""
from __future__ import annotations

import pytest

from routing_support import proposal_rows
from security_support import KEY, finished_run, staff_client

ITEMS = proposal_rows([("p1", "d1=0.9"), ("p2", "d16=0.9")])
DEEP = b'{"items": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
DIGITS = b'{"items": [{"id": ' + b"9" * 5000 + b', "abstract": "d1=0.9"}]}'


@pytest.fixture
def client(tmp_path):
    with staff_client(tmp_path) as c:
        yield c


@pytest.mark.parametrize("body, words", [(DEEP, "nested too deeply"), (DIGITS, "too many digits"),
                                         (b'{"items": ' + b"[" * 40 + b"]" * 40 + b"}", "nested 41 levels deep")])
def test_hostile_json_is_400_on_staff_and_public_endpoints(client, body, words):
    for path, headers in (("/v1/routing/runs", KEY), ("/v1/match", {}), ("/v1/match/batch", {})):
        r = client.post(path, content=body, headers={**headers, "content-type": "application/json"})
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["code"] == "invalid_json" and words in r.json()["error"]["message"]


def test_json_of_ordinary_depth_still_goes_through(client):
    run = finished_run(client, client.post("/v1/routing/runs", json={"items": ITEMS}, headers=KEY))
    assert len(run["assignments"]) == 2


@pytest.mark.parametrize("field", ["title", "abstract", "applicant_org", "id"])
def test_a_lone_surrogate_in_any_item_field_is_422(client, field):
    item = {**ITEMS[0], field: "锂电池\ud800"}
    body = ('{"items": [' + _json_item(item) + "]}").encode()
    r = client.post("/v1/routing/runs", content=body, headers={**KEY, "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "unpaired surrogate" in r.json()["error"]["message"]


def test_a_lone_surrogate_in_a_list_of_partners_or_an_option_is_422(client):
    item = {**ITEMS[0], "partner_orgs": ["甲大学", "乙\ud800"]}
    r = client.post("/v1/routing/runs", content=('{"items": [' + _json_item(item) + "]}").encode(),
                    headers={**KEY, "content-type": "application/json"})
    assert r.status_code == 422 and "unpaired surrogate" in r.json()["error"]["message"]
    for extra in ('"actor": "王\\ud800"', '"panels_closed": ["\\ud800"]', '"extra_room": {"\\ud800": 1}'):
        body = '{"items": [' + _json_item(ITEMS[0]) + "], " + extra + "}"
        r = client.post("/v1/routing/runs", content=body.encode(), headers={**KEY, "content-type": "application/json"})
        assert r.status_code == 422, (extra, r.text)


@pytest.mark.parametrize("room", [10**30, 2**63, -1, 100_001])
def test_extra_room_out_of_bounds_is_422_before_matching(tmp_path, room):
    from routing_support import FakeMatcher

    fake = FakeMatcher()
    with staff_client(tmp_path, matcher=fake) as c:
        r = c.post("/v1/routing/runs", json={"items": ITEMS, "extra_room": {"A": room}}, headers=KEY)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "extra_room"
        assert fake.calls == 0  # refused before any matching


@pytest.mark.parametrize("room", ["A=" + "9" * 5000, "A=100001", "A=1e30"])
def test_extra_room_in_a_form_out_of_bounds_is_422(client, room):
    files = {"file": ("p.csv", b"id,abstract\np1,d1=0.9\n", "text/csv")}
    r = client.post("/v1/routing/runs", files=files, data={"extra_room": room}, headers=KEY)
    assert r.status_code == 422 and r.json()["error"]["field"] == "extra_room"


def test_override_fields_with_a_lone_surrogate_are_422(client):
    run = finished_run(client, client.post("/v1/routing/runs", json={"items": ITEMS}, headers=KEY))
    for body in ('{"proposal_id": "p\\ud800", "panel_id": "B", "reason": "x"}',
                 '{"proposal_id": "p1", "panel_id": "B", "reason": "\\udfff"}'):
        r = client.post(f"/v1/routing/runs/{run['run_id']}/overrides", content=body.encode(),
                        headers={**KEY, "content-type": "application/json"})
        assert r.status_code == 422, r.text


def _json_item(item: dict) -> str:
    """JSON for an item, with a lone surrogate written as its escape (as a hostile client sends it)."""
    import json

    return json.dumps(item, ensure_ascii=True)
