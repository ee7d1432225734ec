"""The HTTP API: every endpoint, every bad input with its exact status and error shape, request ids, logs."""
from __future__ import annotations

import json
import logging

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

import corpus
from service.app import create_app
from service.deps import require_api_key
from service_support import ABSTRACT, OUT_OF_SCOPE, TITLE, TOO_SHORT, make_settings

N = corpus.N_DIRECTIONS


def assert_error(response, status: int, code: str, field: str | None = "any"):
    """The response is ``status`` with exactly ``{"error": {"code", "message", "field"}}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    if field != "any":
        assert body["error"]["field"] == field, body
    assert response.headers.get("x-request-id")
    return body["error"]


# -- POST /v1/match ----------------------------------------------------------------------------
def test_match_returns_the_matchers_result(client, matcher):
    r = client.post("/v1/match", json={"text": ABSTRACT})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data == matcher.match(ABSTRACT, top_k=5).to_dict()
    assert data["in_scope"] is True
    assert data["version"] == matcher.version
    assert len(data["directions"]) == 5
    best = data["directions"][0]
    assert best["id"] == 22
    assert {"id", "title", "score", "cluster", "matched_terms"} <= set(best)
    assert "磷酸铁锂" in best["matched_terms"]
    assert [c["name"] for c in data["clusters"]][0] == best["cluster"]
    assert r.headers["x-request-id"]


def test_match_top_k_and_title_only(client):
    r = client.post("/v1/match", json={"text": TITLE, "top_k": 3})
    assert r.status_code == 200
    assert len(r.json()["directions"]) == 3
    r = client.post("/v1/match", json={"text": ABSTRACT, "top_k": N})
    assert len(r.json()["directions"]) == N


def test_out_of_scope_text_is_answered_not_refused(client):
    r = client.post("/v1/match", json={"text": OUT_OF_SCOPE})
    assert r.status_code == 200
    data = r.json()
    assert data["in_scope"] is False
    assert "未找到合适的支持方向" in data["message"]


def test_request_id_is_echoed_or_made(client):
    r = client.get("/healthz", headers={"X-Request-ID": "portal-42.a"})
    assert r.headers["x-request-id"] == "portal-42.a"
    a = client.get("/healthz").headers["x-request-id"]
    b = client.get("/healthz").headers["x-request-id"]
    assert a and b and a != b
    # an id that could forge log lines is replaced, not echoed
    for bad in ("forged id=1 [request_id=x]", "z" * 300, "\u00e9t\u00e9".encode("utf-8")):
        r = client.get("/healthz", headers={"X-Request-ID": bad})
        assert r.headers["x-request-id"] != bad and len(r.headers["x-request-id"]) == 32


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "body, code, field",
    [
        ({"text": ""}, "text_empty", "text"),
        ({"text": "   \n\t\u3000 "}, "text_empty", "text"),
        ({"text": TOO_SHORT}, "text_too_short", "text"),
        ({"text": "锂" * 20_001}, "text_too_long", "text"),
        ({"text": 123}, "wrong_type", "text"),
        ({"text": None}, "wrong_type", "text"),
        ({"text": ["磷酸铁锂正极材料"]}, "wrong_type", "text"),
        ({"text": ABSTRACT, "top_k": "5"}, "wrong_type", "top_k"),
        ({"text": ABSTRACT, "top_k": 2.5}, "wrong_type", "top_k"),
        ({"text": ABSTRACT, "top_k": True}, "wrong_type", "top_k"),
        ({"text": ABSTRACT, "top_k": 0}, "top_k_out_of_range", "top_k"),
        ({"text": ABSTRACT, "top_k": -3}, "top_k_out_of_range", "top_k"),
        ({"text": ABSTRACT, "top_k": N + 1}, "top_k_out_of_range", "top_k"),
        ({"text": ABSTRACT, "title": "x"}, "unknown_field", "title"),
        ({}, "missing_field", "text"),
        ([ABSTRACT], "wrong_type", None),
        ("磷酸铁锂正极材料", "wrong_type", None),
    ],
)
def test_match_bad_input_is_422(client, body, code, field):
    assert_error(client.post("/v1/match", json=body), 422, code, field)


def test_text_at_the_limit_is_accepted(client, settings):
    # padded with spaces (which the matcher collapses) so the test does not embed 20,000 characters
    head = "高压实磷酸铁锂正极材料制备。"
    text = head + " " * (settings.max_text_chars - len(head))
    assert len(text) == settings.max_text_chars
    r = client.post("/v1/match", json={"text": text, "top_k": 1})
    assert r.status_code == 200
    assert r.json()["directions"][0]["id"] == 22


def test_settings_can_lower_the_text_limit(matcher):
    with TestClient(create_app(make_settings(max_text_chars=100), matcher=matcher)) as c:
        err = assert_error(c.post("/v1/match", json={"text": "锂" * 101}), 422, "text_too_long", "text")
        assert "100" in err["message"]
        assert c.get("/openapi.json").json()["components"]["schemas"]["MatchRequest"]["properties"]["text"][
            "maxLength"
        ] == 100


def test_lone_surrogate_is_422_not_500(client):
    r = client.post("/v1/match", content=b'{"text": "\\ud800\\u78f7\\u9178\\u94c1\\u9502"}', headers=JSON)
    assert_error(r, 422, "invalid_text", "text")


def test_invalid_json_is_400(client):
    assert_error(client.post("/v1/match", content=b'{"text": "abc', headers=JSON), 400, "invalid_json", None)


def test_invalid_utf8_is_400(client):
    body = '{"text": "磷酸铁锂正极材料"}'.encode("utf-8")
    bad = body[:12] + b"\xff\xfe" + body[12:]
    assert_error(client.post("/v1/match", content=bad, headers=JSON), 400, "invalid_utf8", None)
    gbk = '{"text": "磷酸铁锂正极材料"}'.encode("gbk")
    assert_error(client.post("/v1/match", content=gbk, headers=JSON), 400, "invalid_utf8", None)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/json; charset=gbk", "application/xml"],
)
def test_wrong_content_type_is_415(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    body = json.dumps({"text": ABSTRACT}).encode()
    r = client.post("/v1/match", content=body, headers=headers)
    assert_error(r, 415, "unsupported_media_type", None)


def test_json_content_type_variants_are_accepted(client):
    body = json.dumps({"text": ABSTRACT, "top_k": 1}, ensure_ascii=False).encode()
    for ct in ("application/json; charset=utf-8", "application/json;charset=UTF-8", "application/problem+json"):
        assert client.post("/v1/match", content=body, headers={"content-type": ct}).status_code == 200


def test_missing_body_is_422(client):
    assert_error(client.post("/v1/match"), 422, "missing_body", None)
    assert_error(client.post("/v1/match", content=b"", headers=JSON), 422, "missing_body", None)


def test_body_over_the_limit_is_413(client, settings):
    big = json.dumps({"text": "x" * (settings.max_body_bytes + 10)}).encode()
    assert_error(client.post("/v1/match", content=big, headers=JSON), 413, "body_too_large", None)


def test_chunked_body_over_the_limit_is_413(client, settings):
    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"text": "'
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    r = client.post("/v1/match", content=chunks(), headers=JSON)
    assert_error(r, 413, "body_too_large", None)


# -- POST /v1/match/batch ------------------------------------------------------------------------
def test_batch_keeps_order_and_isolates_bad_items(client, matcher):
    items = [
        {"id": "p1", "text": ABSTRACT},
        {"id": "p2", "text": ""},
        {"id": "p3", "text": TITLE},
        {"id": "p4", "text": TOO_SHORT},
        {"id": "p5", "text": "锂" * 20_001},
        {"id": "p6", "text": OUT_OF_SCOPE},
    ]
    r = client.post("/v1/match/batch", json={"items": items, "top_k": 3})
    assert r.status_code == 200, r.text
    data = r.json()
    assert [i["id"] for i in data["items"]] == ["p1", "p2", "p3", "p4", "p5", "p6"]
    assert data["matched"] == 3 and data["failed"] == 3
    p1, p2, p3, p4, p5, p6 = data["items"]
    assert p1["error"] is None and p1["result"] == matcher.match(ABSTRACT, top_k=3).to_dict()
    assert p3["result"]["directions"][0]["id"] == matcher.match(TITLE, top_k=3).directions[0].id
    assert p6["result"]["in_scope"] is False
    for item, code, field in ((p2, "text_empty", "items[1].text"), (p4, "text_too_short", "items[3].text"),
                              (p5, "text_too_long", "items[4].text")):
        assert item["result"] is None
        assert item["error"]["code"] == code and item["error"]["field"] == field and item["error"]["message"]


def test_batch_limit(client, settings):
    items = [{"id": str(i), "text": TITLE} for i in range(settings.max_batch_items + 1)]
    assert_error(client.post("/v1/match/batch", json={"items": items}), 422, "too_many_items", "items")
    spec = client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["BatchRequest"]["properties"]["items"]["maxItems"] == settings.max_batch_items


def test_batch_at_the_limit(matcher):
    with TestClient(create_app(make_settings(max_batch_items=3), matcher=matcher)) as c:
        items = [{"id": str(i), "text": TITLE} for i in range(3)]
        assert c.post("/v1/match/batch", json={"items": items}).status_code == 200
        assert_error(c.post("/v1/match/batch", json={"items": items * 2}), 422, "too_many_items", "items")


@pytest.mark.parametrize(
    "body, status, code, field",
    [
        ({"items": []}, 422, "invalid_value", "items"),
        ({}, 422, "missing_field", "items"),
        ({"items": [{"text": ABSTRACT}]}, 422, "missing_field", "items[0].id"),
        ({"items": [{"id": "a", "text": ABSTRACT, "title": "x"}]}, 422, "unknown_field", "items[0].title"),
        ({"items": [{"id": "a", "text": ABSTRACT}, {"id": "b", "text": 5}]}, 422, "wrong_type", "items[1].text"),
        ({"items": [{"id": 7, "text": ABSTRACT}]}, 422, "wrong_type", "items[0].id"),
        ({"items": {"id": "a", "text": ABSTRACT}}, 422, "wrong_type", "items"),
        ({"items": [{"id": "a", "text": ABSTRACT}], "top_k": 0}, 422, "top_k_out_of_range", "top_k"),
        ({"items": [{"id": "a", "text": ABSTRACT}], "extra": 1}, 422, "unknown_field", "extra"),
    ],
)
def test_batch_bad_requests(client, body, status, code, field):
    assert_error(client.post("/v1/match/batch", json=body), status, code, field)


# -- the guide ------------------------------------------------------------------------------------
def test_directions(client, matcher):
    r = client.get("/v1/directions")
    assert r.status_code == 200
    dirs = r.json()["directions"]
    assert [d["id"] for d in dirs] == list(range(1, N + 1))
    assert dirs[21]["text"] == matcher.directions[21].text
    assert set(dirs[0]) == {"id", "title", "text", "en", "clusters", "cluster_note", "terms"}


def test_one_direction(client, matcher):
    r = client.get("/v1/directions/22")
    assert r.status_code == 200
    assert r.json()["id"] == 22 and r.json()["text"] == matcher.directions[21].text
    assert r.json()["en"] == matcher.directions[21].en and r.json()["en"].startswith("Key new materials for lithium")
    assert_error(client.get(f"/v1/directions/{N + 1}"), 404, "direction_not_found", "direction_id")
    assert_error(client.get("/v1/directions/0"), 404, "direction_not_found", "direction_id")
    assert_error(client.get("/v1/directions/abc"), 422, "wrong_type", "direction_id")


def test_clusters(client, matcher):
    r = client.get("/v1/clusters")
    assert r.status_code == 200
    clusters = r.json()["clusters"]
    assert [c["name"] for c in clusters] == [c.name for c in matcher.clusters]
    by_name = {c["name"]: c for c in clusters}
    assert 22 in by_name["新能源材料"]["directions"]
    assert set(clusters[0]) == {"name", "en", "description", "directions"}


# -- health ----------------------------------------------------------------------------------------
def test_healthz_and_readyz(client, matcher):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready", "version": matcher.version}


def test_not_ready_without_a_matcher(settings):
    app = create_app(settings, matcher=None)
    c = TestClient(app)  # no context manager: the lifespan (which would load the model) does not run
    assert c.get("/healthz").status_code == 200
    assert_error(c.get("/readyz"), 503, "not_ready", None)
    assert_error(c.post("/v1/match", json={"text": ABSTRACT}), 503, "not_ready", None)


# -- routing errors, docs, page ----------------------------------------------------------------------
def test_unknown_route_and_method(client):
    assert_error(client.get("/v1/nothing"), 404, "not_found", None)
    assert_error(client.put("/v1/match", json={"text": ABSTRACT}), 405, "method_not_allowed", None)
    assert_error(client.get("/v1/match"), 405, "method_not_allowed", None)


def test_openapi_and_docs(client, settings):
    spec = client.get("/openapi.json").json()
    assert {"/v1/match", "/v1/match/batch", "/v1/directions", "/v1/directions/{direction_id}", "/v1/clusters",
            "/healthz", "/readyz"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert schemas["MatchRequest"]["properties"]["text"]["maxLength"] == settings.max_text_chars
    assert schemas["MatchRequest"]["additionalProperties"] is False
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text
    for asset in ("/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css"):
        assert client.get(asset).status_code == 200


def test_page_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "支持方向" in r.text
    for path in ("/static/app.js", "/static/style.css"):
        assert client.get(path).status_code == 200
    # no external resources: every src/href is local
    for attr in ("src=\"http", "href=\"http", "//cdn", "@import"):
        assert attr not in r.text
    assert "http" not in client.get("/static/style.css").text


# -- CORS for the portal ------------------------------------------------------------------------------
def test_cors_allows_only_the_portal(matcher):
    app = create_app(make_settings(cors_origins=("https://portal.example.org",)), matcher=matcher)
    with TestClient(app) as c:
        pre = c.options(
            "/v1/match",
            headers={"Origin": "https://portal.example.org", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"},
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "https://portal.example.org"
        r = c.post("/v1/match", json={"text": TITLE}, headers={"Origin": "https://portal.example.org"})
        assert r.headers["access-control-allow-origin"] == "https://portal.example.org"
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        # the guard's own errors carry CORS headers too, so the portal can read them
        r = c.post("/v1/match", content=b"x", headers={"Origin": "https://portal.example.org"})
        assert r.status_code == 415 and r.headers["access-control-allow-origin"] == "https://portal.example.org"
        other = c.post("/v1/match", json={"text": TITLE}, headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers


def test_settings_from_environment(monkeypatch):
    from service.settings import Settings

    monkeypatch.setenv("GUIDE_MATCH_CORS_ORIGINS", "https://a.example.org, https://b.example.org")
    monkeypatch.setenv("GUIDE_MATCH_API_KEYS", "secret-one,secret-two")
    monkeypatch.setenv("GUIDE_MATCH_MAX_BATCH_ITEMS", "50")
    monkeypatch.setenv("GUIDE_MATCH_MAX_BODY_BYTES", "65536")
    monkeypatch.setenv("GUIDE_MATCH_MAX_TEXT_CHARS", "12000")
    monkeypatch.setenv("GUIDE_MATCH_ROUTING_DB", "/tmp/runs.sqlite")
    s = Settings.from_env()
    assert s.matcher.max_text_chars == s.max_text_chars == 12000  # one limit, the matcher's
    assert str(s.routing.db) == "/tmp/runs.sqlite"
    assert s.cors_origins == ("https://a.example.org", "https://b.example.org")
    assert s.api_keys == ("secret-one", "secret-two") and "secret-one" not in repr(s)
    assert s.max_batch_items == 50 and s.max_body_bytes == 65536


# -- staff API keys --------------------------------------------------------------------------------------
def test_require_api_key(matcher, caplog):
    app = create_app(make_settings(api_keys=("s3cret-one", "s3cret-two")), matcher=matcher)
    staff = APIRouter()

    @staff.get("/v1/staff-only")
    async def staff_only(key: str = Depends(require_api_key)):
        return {"key": key}

    app.include_router(staff)
    with TestClient(app) as c, caplog.at_level(logging.INFO):
        err = assert_error(c.get("/v1/staff-only"), 401, "unauthorized")
        assert "X-API-Key" in err["message"]
        r = c.get("/v1/staff-only", headers={"X-API-Key": "wrong-key-value"})
        assert_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/v1/staff-only", headers={"X-API-Key": "s3cret-two"}).json() == {"key": "key#2"}
        assert c.get("/v1/staff-only", headers={"Authorization": "Bearer s3cret-one"}).json() == {"key": "key#1"}
    rejected = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejected) == 2
    assert "request_id=" in rejected[0].getMessage()
    assert "wrong-key-value" not in caplog.text and "s3cret" not in caplog.text


def test_no_keys_configured_refuses_everyone(matcher):
    app = create_app(make_settings(api_keys=()), matcher=matcher)
    staff = APIRouter()

    @staff.get("/v1/staff-only")
    async def staff_only(key: str = Depends(require_api_key)):
        return {"key": key}

    app.include_router(staff)
    with TestClient(app) as c:
        assert_error(c.get("/v1/staff-only", headers={"X-API-Key": ""}), 401, "unauthorized")


# -- confidentiality and the last resort --------------------------------------------------------------------
SECRET = "绝密课题甲乙丙：一种基于钠离子电池的高比能储能系统与固态电解质界面调控方法"


def test_proposal_text_never_reaches_the_logs(client, caplog):
    secret_short = "绝密丁戊"  # a would-be-valid text that is rejected for other reasons
    with caplog.at_level(logging.DEBUG):
        assert client.post("/v1/match", json={"text": SECRET}).status_code == 200
        client.post("/v1/match/batch", json={"items": [{"id": "s1", "text": SECRET}, {"id": "s2", "text": ""}]})
        client.post("/v1/match", json={"text": SECRET, "top_k": "x"})
        client.post("/v1/match", json={"text": SECRET, "secret_field": SECRET})
        client.post("/v1/match", json={"text": SECRET * 1000})
        client.post("/v1/match", content=('{"text": "' + SECRET).encode(), headers=JSON)
        client.post("/v1/match", content=json.dumps({"text": SECRET}).encode(), headers={"content-type": "text/plain"})
        client.post("/v1/match", json={"text": secret_short, "top_k": 999})
    assert caplog.records, "the service logs its requests"
    assert any("request_id=" in r.getMessage() for r in caplog.records)
    for needle in (SECRET, SECRET[:6], "钠离子电池的高比能", secret_short):
        assert needle not in caplog.text
        for record in caplog.records:
            assert needle not in record.getMessage()
            assert needle not in repr(record.args)


class ExplodingMatcher:
    """A matcher that fails the way a bug would, with the text in the exception."""

    def __init__(self, real):
        self.directions, self.clusters, self.version, self.config = real.directions, real.clusters, real.version, real.config
        self.check_text = real.check_text

    def check_top_k(self, k):
        return k

    def match(self, text, top_k=5, max_chars=None):
        raise RuntimeError(f"boom while matching {text!r}")

    def match_many(self, texts, top_k=5, on_error="raise"):
        raise KeyError(texts[0])


def test_unexpected_errors_are_500_in_the_error_shape_and_logged_with_the_request_id(matcher, caplog):
    app = create_app(make_settings(), matcher=ExplodingMatcher(matcher))
    with TestClient(app, raise_server_exceptions=False) as c, caplog.at_level(logging.INFO):
        r = c.post("/v1/match", json={"text": SECRET}, headers={"X-Request-ID": "trace-500"})
        err = assert_error(r, 500, "internal_error", None)
        assert r.headers["x-request-id"] == "trace-500" and "trace-500" in err["message"]
        assert "RuntimeError" not in r.text and "boom" not in r.text
        r = c.post("/v1/match/batch", json={"items": [{"id": "a", "text": SECRET}]})
        assert_error(r, 500, "internal_error", None)
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert any("trace-500" in rec.getMessage() and "RuntimeError" in rec.getMessage() for rec in errors)
    assert SECRET not in caplog.text and SECRET[:6] not in caplog.text
