"""``continuum dry-run``, ``health`` and ``status`` against the real API over real HTTP."""

from __future__ import annotations

import json

import pytest

from continuum.cli.exits import EXIT_BLOCKED, EXIT_FAILED, EXIT_OK, EXIT_UNHEALTHY
from continuum.messages.requests import DryRunRequest, HealthRequest
from tests.cli.cli_fake_continuum import FINGERPRINT, STANDBY
from tests.cli.conftest import CR, TOKEN, ApiServer, run_cli

pytestmark = pytest.mark.anyio


async def test_dry_run_prints_the_seven_steps_totals_and_fingerprint_and_exits_zero(
    api: ApiServer,
) -> None:
    run = await api.cli("dry-run", CR, "--to", STANDBY, "--token", TOKEN)
    assert run.code == EXIT_OK, run.err
    lines = run.out.splitlines()
    assert lines[0] == f"DryRun {CR} → {STANDBY}"
    assert FINGERPRINT in lines[1]
    header = next(i for i, line in enumerate(lines) if line.startswith("#"))
    assert lines[header].split() == ["#", "STEP", "MET", "EST.", "NOTES"]
    steps = lines[header + 1 : header + 8]
    assert [row.split()[1] for row in steps] == [
        "validate-lease",
        "cordon-old-primary",
        "drain-http",
        "flip-dns",
        "swap-lease",
        "promote-new-primary",
        "audit-emit",
    ]
    assert steps[2].split()[:5] == ["3", "drain-http", "yes", "10", "s"]
    assert "drain-http ready" in steps[2]
    assert "estimated duration 22 s, write disruption 14 s" in run.out
    assert "  - replication lag 0.4s" in run.out
    assert "blockers: none" in run.out


async def test_dry_run_with_blockers_lists_them_and_exits_three(
    api: ApiServer,
) -> None:
    api.scenario.blockers = ["lease held by another region", "standby not ready"]
    run = await api.cli("dry-run", CR, "--to", STANDBY, "--token", TOKEN)
    assert run.code == EXIT_BLOCKED
    assert "blockers (2):\n  - lease held by another region\n  - standby not ready" in run.out
    assert "1  validate-lease       NO" in run.out
    assert "BLOCKED: 2 blocker(s)" in run.out


async def test_dry_run_json_prints_the_servers_report_verbatim(api: ApiServer) -> None:
    run = await api.cli("dry-run", CR, "--to", STANDBY, "--token", TOKEN, "--json")
    assert run.code == EXIT_OK
    report = json.loads(run.out)
    assert report["planFingerprint"] == FINGERPRINT
    assert [s["step"] for s in report["steps"]] == [1, 2, 3, 4, 5, 6, 7]


async def test_dry_run_sends_target_and_reason_in_the_request_body(api: ApiServer) -> None:
    run = await api.cli("dry-run", CR, "--to", STANDBY, "--reason", "drill", "--token", TOKEN)
    assert run.code == EXIT_OK
    assert api.scenario.received == [DryRunRequest(toRegion=STANDBY, reason="drill")]


async def test_every_request_carries_owner_tier_and_the_bearer_token(api: ApiServer) -> None:
    await api.cli("dry-run", CR, "--to", STANDBY, "--token", TOKEN)
    await api.cli("status", env={"CONTINUUM_API_TOKEN": TOKEN})
    assert len(api.headers) == 2
    for headers in api.headers:
        assert headers["x-catalyst-owner-tier"] == "true"
        assert headers["authorization"] == f"Bearer {TOKEN}"


async def test_no_token_means_no_authorization_header_and_the_owner_tier_alone_is_enough(
    open_api: ApiServer,
) -> None:
    run = await open_api.cli("status", CR)
    assert run.code == EXIT_OK, run.err
    assert "authorization" not in open_api.headers[0]
    assert open_api.headers[0]["x-catalyst-owner-tier"] == "true"


async def test_api_url_comes_from_the_environment_when_no_flag_is_given(api: ApiServer) -> None:
    run = await run_cli(
        ["status", CR],
        env={"CONTINUUM_API_URL": api.url, "CONTINUUM_API_TOKEN": TOKEN},
    )
    assert run.code == EXIT_OK, run.err
    assert f"continuum              {CR}" in run.out


async def test_missing_token_is_a_401_reported_on_stderr_with_exit_one(api: ApiServer) -> None:
    run = await api.cli("dry-run", CR, "--to", STANDBY)
    assert run.code == EXIT_FAILED
    assert run.out == ""
    assert run.err.startswith("continuum: HTTP 401: ")


async def test_wrong_token_never_appears_in_the_error_output(api: ApiServer) -> None:
    run = await api.cli("health", CR, "--token", "not-the-token-XYZ")
    assert run.code == EXIT_FAILED
    assert "HTTP 401" in run.err
    assert "not-the-token-XYZ" not in run.err + run.out


async def test_unknown_continuum_is_a_404_naming_it(api: ApiServer) -> None:
    run = await api.cli("health", "team-a/missing", "--token", TOKEN)
    assert run.code == EXIT_FAILED
    assert "HTTP 404" in run.err
    assert "team-a/missing" in run.err


async def test_invalid_target_region_reports_the_field_path_from_the_422(api: ApiServer) -> None:
    run = await api.cli("dry-run", CR, "--to", "Not_A_Region", "--token", TOKEN)
    assert run.code == EXIT_FAILED
    assert "HTTP 422" in run.err
    assert "toRegion" in run.err


async def test_error_body_goes_to_stdout_as_json_with_json_flag(api: ApiServer) -> None:
    run = await api.cli("dry-run", CR, "--to", "eu-north", "--token", TOKEN, "--json")
    assert run.code == EXIT_FAILED
    body = json.loads(run.out)
    assert "eu-north" in body["error"]
    assert set(body) == {"error", "detail"}


async def test_unreachable_api_exits_one_with_a_message() -> None:
    run = await run_cli(["status", "--api", "http://127.0.0.1:9", "--timeout", "2"], env={})
    assert run.code == EXIT_FAILED
    assert "cannot reach http://127.0.0.1:9" in run.err


async def test_health_prints_the_four_checks_and_verdict_and_exits_zero_when_healthy(
    api: ApiServer,
) -> None:
    run = await api.cli("health", CR, "--token", TOKEN)
    assert run.code == EXIT_OK
    lines = run.out.splitlines()
    assert lines[0].startswith(f"health {CR}: HEALTHY   new primary {STANDBY}")
    rows = [line.split()[:2] for line in lines[3:]]
    assert rows == [
        ["replicas-healthy", "pass"],
        ["dns-probes", "pass"],
        ["latency-normal", "pass"],
        ["audit-posted", "pass"],
    ]


async def test_health_exits_three_when_unhealthy(api: ApiServer) -> None:
    api.scenario.health_verdict = "unhealthy"
    run = await api.cli("health", CR, "--token", TOKEN)
    assert run.code == EXIT_UNHEALTHY
    assert "UNHEALTHY" in run.out
    assert "dns-probes        fail" in run.out


async def test_health_fresh_asks_the_actor_to_recompute(api: ApiServer) -> None:
    await api.cli("health", CR, "--token", TOKEN, "--fresh")
    await api.cli("health", CR, "--token", TOKEN)
    assert api.scenario.received == [HealthRequest(fresh=True), HealthRequest(fresh=False)]


async def test_health_json_prints_the_report(api: ApiServer) -> None:
    run = await api.cli("health", CR, "--token", TOKEN, "--json")
    assert run.code == EXIT_OK
    assert json.loads(run.out)["verdict"] == "healthy"


async def test_status_without_target_lists_every_continuum_in_a_table(api: ApiServer) -> None:
    run = await api.cli("status", "--token", TOKEN)
    assert run.code == EXIT_OK
    header, row = run.out.splitlines()
    assert header.split() == [
        "CONTINUUM",
        "PHASE",
        "PRIMARY",
        "LEASE",
        "GEN",
        "REGION",
        "SWITCHOVER",
        "HEALTH",
    ]
    assert row.split() == [CR, "Healthy", "eu-west", "eu-west", "7", "eu-west", "-", "-"]


async def test_status_of_one_continuum_shows_its_details(api: ApiServer) -> None:
    run = await api.cli("status", CR, "--token", TOKEN)
    assert run.code == EXIT_OK
    assert "acting primary         eu-west" in run.out
    assert f"hot standby            {STANDBY}" in run.out
    assert "this replica           eu-west (acting)" in run.out


async def test_status_json_prints_the_list(api: ApiServer) -> None:
    run = await api.cli("status", "--token", TOKEN, "--json")
    assert [s["name"] for s in json.loads(run.out)] == ["orders"]


@pytest.mark.parametrize("target", ["orders", "a/b/c", "/orders", "team-a/"])
async def test_malformed_target_is_a_usage_error(target: str) -> None:
    with pytest.raises(SystemExit) as exited:
        await run_cli(["health", target], env={})
    assert exited.value.code == 2
