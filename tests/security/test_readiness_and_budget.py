"""Findings 3 and 7: /readyz failed exactly when the server was busy, and costly requests had no bound.

Readiness is answered from a recent match, or one shared probe that never piles up; each matching
request has a time budget; the public endpoints have a per-client rate limit.
"""
from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.routers.health import PROBE_TEXT

from service_support import ABSTRACT, make_settings


class Gated:
    """The real matcher behind a gate: ``match`` and ``match_many`` wait until the gate opens."""

    def __init__(self, matcher):
        self._m = matcher
        self.gate = threading.Event()
        self.probes = 0
        self.batches = 0
        # the probe's answer, ready before the test: once the gate opens a probe finishes at once,
        # however busy the machine is, so the count of probes does not depend on the model's speed
        self._probe_answer = matcher.match(PROBE_TEXT, top_k=1)

    def __getattr__(self, name):
        return getattr(self._m, name)

    def match(self, text, top_k=5, max_chars=None):
        self.probes += 1
        self.gate.wait(30)
        return self._probe_answer if text == PROBE_TEXT else self._m.match(text, top_k, max_chars)

    def match_many(self, texts, **kw):
        self.batches += 1
        self.gate.wait(30)
        return self._m.match_many(texts, **kw)


def test_readyz_is_ready_from_a_recent_match_without_a_probe(matcher):
    gated = Gated(matcher)
    app = create_app(make_settings(ready_timeout=0.5), matcher=gated)
    with TestClient(app) as client:
        app.state.readiness.mark()  # as a finished request does
        for method in (client.get, client.head):
            assert method("/readyz").status_code == 200
        assert gated.probes == 0


def test_busy_readyz_shares_one_probe_and_never_piles_them_up(matcher):
    gated = Gated(matcher)
    app = create_app(make_settings(ready_timeout=0.2, ready_max_age=0), matcher=gated)
    with TestClient(app) as client:
        answers = [client.get("/readyz") for _ in range(5)]  # the model is stuck: each waits 0.2 s
        assert {r.status_code for r in answers} == {503}
        assert answers[0].json()["error"]["code"] == "not_ready"
        assert gated.probes == 1  # one probe, still running, shared by every caller
        gated.gate.set()
        deadline, calls = time.monotonic() + 30, 1
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            calls += 1
            time.sleep(0.05)
        assert client.get("/readyz").status_code == 200
        # with ready_max_age=0 every call after the stuck one finished probes afresh: one probe each, never more
        assert gated.probes <= 1 + calls + 1


def test_readyz_stays_200_while_batches_keep_the_model_busy(matcher):
    app = create_app(make_settings(ready_timeout=2), matcher=matcher)
    texts = [{"id": str(i), "text": ABSTRACT} for i in range(130)]
    with TestClient(app) as client:
        done = []
        workers = [threading.Thread(target=lambda: done.append(client.post("/v1/match/batch", json={"items": texts})))
                   for _ in range(3)]
        for w in workers:
            w.start()
        probes = []
        while any(w.is_alive() for w in workers):
            probes.append(client.get("/readyz").status_code)
            time.sleep(0.2)
        for w in workers:
            w.join()
        assert probes and set(probes) == {200}
        assert [r.status_code for r in done] == [200, 200, 200]


def test_a_batch_stops_at_its_time_budget_and_names_the_items_not_reached(matcher):
    class Slow:
        def __init__(self, m):
            self._m = m

        def __getattr__(self, name):
            return getattr(self._m, name)

        def match_many(self, texts, **kw):
            time.sleep(0.6)
            return self._m.match_many(texts, **kw)

    app = create_app(make_settings(time_budget=0.5), matcher=Slow(matcher))
    with TestClient(app) as client:
        r = client.post("/v1/match/batch", json={"items": [{"id": str(i), "text": ABSTRACT} for i in range(150)]})
        assert r.status_code == 200
        body = r.json()
        assert body["matched"] == 64 and body["failed"] == 86  # one chunk, then the budget was spent
        err = body["items"][100]["error"]
        assert err["code"] == "time_budget_exceeded" and err["field"] == "items[100]" and "send this item again" in err["message"]
        assert body["items"][0]["result"]["directions"][0]["id"] == 22


def test_a_request_that_waited_out_its_budget_is_503_busy(matcher):
    # A budget of a microsecond is spent before the worker thread starts: the request is not matched.
    gated = Gated(matcher)
    gated.gate.set()
    app = create_app(make_settings(time_budget=1e-6), matcher=gated)
    with TestClient(app) as client:
        r = client.post("/v1/match", json={"text": ABSTRACT})
        assert r.status_code == 503 and r.json()["error"]["code"] == "busy" and r.headers["Retry-After"]
        assert gated.probes == 0


def test_text_expanding_under_nfkc_is_refused_by_its_normalised_length(client_real):
    r = client_real.post("/v1/match", json={"text": "\ufdfa" * 20_000})
    assert r.status_code == 422 and r.json()["error"]["code"] == "text_too_long"


@pytest.fixture
def client_real(matcher):
    with TestClient(create_app(make_settings(), matcher=matcher)) as c:
        yield c


def test_invisible_format_characters_score_as_the_clean_text(client_real):
    clean = "面向储能电站需求，开发高压实磷酸铁锂正极材料和钠离子电池层状氧化物正极，优化前驱体共沉淀与烧结工艺。"
    dirty = "\u200b".join(clean[:20]) + "\u00ad".join(clean[20:40]) + "\ufeff" + "\u200d".join(clean[40:])
    a = client_real.post("/v1/match", json={"text": clean, "top_k": 3}).json()
    b = client_real.post("/v1/match", json={"text": dirty, "top_k": 3}).json()
    assert [d["id"] for d in a["directions"]] == [d["id"] for d in b["directions"]]
    assert a["directions"][0]["score"] == pytest.approx(b["directions"][0]["score"], abs=0.01)
    assert a["in_scope"] == b["in_scope"] and a["directions"][0]["matched_terms"] == b["directions"][0]["matched_terms"]


def test_public_endpoints_are_rate_limited_per_client(matcher):
    app = create_app(make_settings(rate_limit="3/minute"), matcher=matcher)
    with TestClient(app) as client:
        codes = [client.get("/v1/limits").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        r = client.post("/v1/match", json={"text": ABSTRACT})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["code"] == "too_many_requests"
        # health probes, the pages and the staff endpoints are not counted
        assert client.get("/healthz").status_code == 200 and client.get("/").status_code == 200
        assert client.get("/v1/routing/runs/x").status_code == 401


def test_rate_limit_setting_is_checked():
    from matcher import InputError
    from service.settings import Settings

    assert Settings(rate_limit="off").rate_limit == "" and Settings(rate_limit=" 5/second ").rate_limit == "5/second"
    with pytest.raises(InputError, match="GUIDE_MATCH_RATE_LIMIT"):
        Settings.from_env(rate_limit="lots")
