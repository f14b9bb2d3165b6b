"""Input validation and Litestar's own errors: 404, 405, 413 and 422, all as JSON
``{"error", "detail"}``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.http.conftest import AUTH, ApiUnderTest, running_api
from tests.http.fake_continuum import FINGERPRINT, STANDBY

pytestmark = pytest.mark.anyio

CR = "/v1/continuums/team-a/orders"


def assert_json_error(response_json: object) -> None:
    assert isinstance(response_json, dict)
    assert set(response_json) == {"error", "detail"}
    assert isinstance(response_json["error"], str)
    assert response_json["error"]


@pytest.mark.parametrize(
    ("ns", "name", "field"),
    [
        pytest.param("Team-A", "orders", "path.ns", id="uppercase-namespace"),
        pytest.param("team_a", "orders", "path.ns", id="underscore-namespace"),
        pytest.param("-team", "orders", "path.ns", id="leading-dash-namespace"),
        pytest.param("team.a", "orders", "path.ns", id="dotted-namespace-is-not-a-label"),
        pytest.param("a" * 64, "orders", "path.ns", id="namespace-over-63"),
        pytest.param("team-a", "Orders", "path.name", id="uppercase-name"),
        pytest.param("team-a", "a..b", "path.name", id="empty-subdomain-label"),
        pytest.param("team-a", "orders-", "path.name", id="trailing-dash-name"),
        pytest.param("team-a", "a" * 254, "path.name", id="name-over-253"),
    ],
)
async def test_namespace_and_name_that_are_not_dns_1123_are_422(
    api: ApiUnderTest, ns: str, name: str, field: str
) -> None:
    response = await api.client.get(f"/v1/continuums/{ns}/{name}/health", headers=AUTH)
    assert response.status_code == 422
    assert_json_error(response.json())
    assert [e["field"] for e in response.json()["detail"]] == [field]


async def test_longest_valid_namespace_and_dotted_name_pass_validation(api: ApiUnderTest) -> None:
    name = ".".join(["a" * 63] * 3) + ".b"
    response = await api.client.get(f"/v1/continuums/{'n' * 63}/{name}", headers=AUTH)
    assert response.status_code == 404  # valid, just not a known CR


@pytest.mark.parametrize(
    ("body", "field", "message_part"),
    [
        pytest.param(b'{"toRegion": ', "body", "truncated", id="truncated-json"),
        pytest.param(b"{toRegion: 1}", "body", "malformed", id="malformed-json"),
        pytest.param(b"", "body", "", id="empty-body"),
        pytest.param(b'["eu-central"]', "body", "Expected `object`", id="not-an-object"),
        pytest.param(b'{"toRegion": 5}', "body.toRegion", "Expected `str`", id="wrong-type"),
        pytest.param(b"{}", "body.toRegion", "missing required field", id="missing-field"),
        pytest.param(
            b'{"toRegion": "eu-central", "force": true}',
            "body.force",
            "unknown field",
            id="unknown-field",
        ),
        pytest.param(b'{"toRegion": "EU_CENTRAL"}', "body.toRegion", "regex", id="bad-region"),
        pytest.param(
            b'{"toRegion": "eu-central", "reason": 7}', "body.reason", "Expected `str`", id="reason"
        ),
    ],
)
async def test_bad_dry_run_bodies_are_422_with_the_field_path(
    api: ApiUnderTest, body: bytes, field: str, message_part: str
) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    response = await api.client.post(f"{CR}/dry-run", content=body, headers=headers)
    assert response.status_code == 422
    assert_json_error(response.json())
    (error,) = response.json()["detail"]
    assert error["field"] == field
    assert message_part.lower() in error["message"].lower()
    assert api.states["team-a/orders"].received == []


async def test_switchover_fingerprint_must_be_16_hex_digits(api: ApiUnderTest) -> None:
    body = {"toRegion": STANDBY, "fingerprint": "not-a-fingerprint"}
    response = await api.client.post(f"{CR}/switchover", json=body, headers=AUTH)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["body.fingerprint"]


async def test_switchover_body_cannot_carry_unknown_fields(api: ApiUnderTest) -> None:
    body = {"toRegion": STANDBY, "fingerprint": FINGERPRINT, "skipChecks": True}
    response = await api.client.post(f"{CR}/switchover", json=body, headers=AUTH)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["body.skipChecks"]


async def test_health_fresh_must_be_a_boolean(api: ApiUnderTest) -> None:
    response = await api.client.get(f"{CR}/health?fresh=perhaps", headers=AUTH)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["query.fresh"]


async def test_body_over_the_limit_is_413_when_announced_by_content_length() -> None:
    async with running_api(body_limit=128) as api:
        body = {"toRegion": STANDBY, "reason": "x" * 200}
        response = await api.client.post(f"{CR}/dry-run", json=body, headers=AUTH)
        assert response.status_code == 413
        assert_json_error(response.json())
        assert api.states["team-a/orders"].received == []


async def test_body_over_the_limit_is_413_when_streamed_without_content_length() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"toRegion": "eu-central", "reason": "'
        for _ in range(10):
            yield b"x" * 32
        yield b'"}'

    async with running_api(body_limit=128) as api:
        headers = {**AUTH, "Content-Type": "application/json"}
        response = await api.client.post(f"{CR}/dry-run", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert_json_error(response.json())


async def test_body_at_the_limit_is_accepted() -> None:
    body = b'{"toRegion": "eu-central", "reason": "' + b"x" * 40 + b'"}'
    async with running_api(body_limit=len(body)) as api:
        headers = {**AUTH, "Content-Type": "application/json"}
        response = await api.client.post(f"{CR}/dry-run", content=body, headers=headers)
    assert response.status_code == 200


async def test_unknown_route_is_a_json_404(api: ApiUnderTest) -> None:
    for path in ("/nowhere", "/v1/continuums/team-a/orders/reboot", "/v1/continuums/x"):
        response = await api.client.get(path, headers=AUTH)
        assert response.status_code == 404, path
        assert_json_error(response.json())


async def test_wrong_method_is_a_json_405_with_allow(api: ApiUnderTest) -> None:
    response = await api.client.get(f"{CR}/dry-run", headers=AUTH)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert_json_error(response.json())


ROUTES: list[tuple[str, str]] = [
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/v1/continuums", "GET"),
    (CR, "GET"),
    (f"{CR}/dry-run", "POST"),
    (f"{CR}/health", "GET"),
    (f"{CR}/switchover", "POST"),
]


@pytest.mark.parametrize(("path", "allowed"), ROUTES)
async def test_every_route_answers_a_wrong_method_with_a_json_405(
    api: ApiUnderTest, path: str, allowed: str
) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        if method == allowed:
            continue
        response = await api.client.request(method, path, headers=AUTH)
        assert response.status_code == 405, (method, path, response.text)
        assert allowed in response.headers["allow"], (method, path)
        assert_json_error(response.json())


async def test_unknown_query_parameters_are_422(api: ApiUnderTest) -> None:
    response = await api.client.get(f"{CR}/health?fresh=true&verbose=1", headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "query.verbose", "message": "unknown query parameter"}
    ]


@pytest.mark.parametrize(
    "path",
    ["/v1/continuums/team-a//health", "/v1/continuums//orders/health", "/v1//continuums"],
)
async def test_paths_with_an_empty_segment_are_404_not_another_cr(
    api: ApiUnderTest, path: str
) -> None:
    response = await api.client.get(path, headers=AUTH)
    assert response.status_code == 404
    assert "empty path segment" in response.json()["error"]
    assert api.states["team-a/orders"].received == []
