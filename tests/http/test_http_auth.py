"""The /v1 guard: the full credentials matrix, and that tokens never leak."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from continuum import metrics
from continuum.logs import configure_logging
from tests.http.conftest import AUTH, OWNER, TOKEN, running_api

pytestmark = pytest.mark.anyio

WRONG_TOKEN = "wr0ng-t0ken-value-xyz"
CHALLENGE = 'Bearer realm="continuum"'

TIERS = {"absent": {}, "false": {"X-Catalyst-Owner-Tier": "false"}, "true": OWNER}
BEARERS = {
    "absent": {},
    "wrong": {"Authorization": f"Bearer {WRONG_TOKEN}"},
    "right": {"Authorization": f"Bearer {TOKEN}"},
}


def expected_status(*, token_configured: bool, tier: str, bearer: str) -> int:
    """The contract: bearer first (only when a token is configured), then the owner tier."""
    if token_configured and bearer != "right":
        return 401
    return 200 if tier == "true" else 403


MATRIX = [
    pytest.param(configured, tier, bearer, id=f"token-{configured}-tier-{tier}-bearer-{bearer}")
    for configured in (True, False)
    for tier in TIERS
    for bearer in BEARERS
]


@pytest.mark.parametrize(("token_configured", "tier", "bearer"), MATRIX)
async def test_credentials_matrix_gives_the_exact_status_and_challenge_header(
    token_configured: bool, tier: str, bearer: str
) -> None:
    expected = expected_status(token_configured=token_configured, tier=tier, bearer=bearer)
    async with running_api(token=TOKEN if token_configured else "") as api:
        response = await api.client.get(
            "/v1/continuums/team-a/orders", headers={**TIERS[tier], **BEARERS[bearer]}
        )
    assert response.status_code == expected
    if expected == 401:
        assert response.headers["www-authenticate"] == CHALLENGE
    else:
        assert "www-authenticate" not in response.headers
    if expected != 200:
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"error", "detail"}


async def test_bearer_scheme_name_is_case_insensitive() -> None:
    async with running_api() as api:
        response = await api.client.get(
            "/v1/continuums", headers={**OWNER, "Authorization": f"bearer {TOKEN}"}
        )
    assert response.status_code == 200


async def test_another_auth_scheme_counts_as_a_missing_bearer() -> None:
    async with running_api() as api:
        response = await api.client.get(
            "/v1/continuums", headers={**OWNER, "Authorization": f"Basic {TOKEN}"}
        )
    assert response.status_code == 401
    assert response.json()["detail"] == {"reason": "missing-bearer"}


async def test_credentials_are_checked_before_the_path_is_validated() -> None:
    async with running_api() as api:
        response = await api.client.get("/v1/continuums/NOT_VALID/x")
    assert response.status_code == 401


async def test_probes_and_the_openapi_document_need_no_credentials() -> None:
    async with running_api() as api:
        for path in ("/healthz", "/readyz", "/schema/openapi.json"):
            assert (await api.client.get(path)).status_code == 200, path


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Capture the process's JSON log lines; restore stdout logging afterwards."""
    stream = io.StringIO()
    configure_logging(level="info", fmt="json", stream=stream)
    yield stream
    configure_logging(level="info", fmt="json")


def events(stream: io.StringIO, name: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("event") == name]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param(OWNER, "missing-bearer", id="missing-bearer"),
        pytest.param(
            {**OWNER, "Authorization": f"Bearer {WRONG_TOKEN}"}, "wrong-bearer", id="wrong-bearer"
        ),
        pytest.param({"Authorization": f"Bearer {TOKEN}"}, "owner-tier", id="owner-tier"),
    ],
)
async def test_denied_requests_are_logged_with_their_reason(
    log_stream: io.StringIO, headers: dict[str, str], reason: str
) -> None:
    async with running_api() as api:
        await api.client.get("/v1/continuums", headers=headers)
    denied = events(log_stream, "api_denied")
    assert [(d["reason"], d["method"], d["path"]) for d in denied] == [
        (reason, "GET", "/v1/continuums")
    ]
    (line,) = events(log_stream, "api_request")
    assert line["outcome"] == f"denied:{reason}"


async def test_tokens_never_appear_in_logs_responses_or_metrics(log_stream: io.StringIO) -> None:
    async with running_api() as api:
        wrong = await api.client.get(
            "/v1/continuums", headers={**OWNER, "Authorization": f"Bearer {WRONG_TOKEN}"}
        )
        right = await api.client.get("/v1/continuums/team-a/orders", headers=AUTH)
        missing = await api.client.get("/v1/continuums/team-z/ghost", headers=AUTH)
    exposition = metrics.exposition()
    for secret in (TOKEN, WRONG_TOKEN):
        assert secret not in log_stream.getvalue()
        assert secret not in exposition
        for response in (wrong, right, missing):
            assert secret not in response.text
            assert all(secret not in value for value in response.headers.values())
    assert len(events(log_stream, "api_request")) == 3


async def test_every_request_is_logged_as_one_canonical_line(log_stream: io.StringIO) -> None:
    async with running_api() as api:
        await api.client.get("/v1/continuums/team-a/orders/health?fresh=true", headers=AUTH)
        await api.client.get("/nowhere")
    ok, missing = events(log_stream, "api_request")
    assert ok["method"] == "GET"
    assert ok["path"] == "/v1/continuums/team-a/orders/health"
    assert ok["route"] == "/v1/continuums/{ns}/{name}/health"
    assert ok["status"] == 200
    assert ok["outcome"] == "ok"
    assert isinstance(ok["duration_ms"], float)
    assert (missing["status"], missing["outcome"], missing["route"]) == (
        404,
        "not-found",
        "unmatched",
    )
