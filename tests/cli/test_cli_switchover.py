"""``continuum switchover``: DryRun, confirmation, the 409 path, live progress and the health
wait, against the real API with a scripted actor (progress advances on each status ask)."""

from __future__ import annotations

import json

import pytest

from continuum.cli.exits import (
    EXIT_BLOCKED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_SWITCHOVER_FAILED,
    EXIT_UNHEALTHY,
)
from continuum.messages.requests import DryRunRequest, SwitchoverRequest
from tests.cli.cli_fake_continuum import (
    CHANGED_FINGERPRINT,
    FINGERPRINT,
    STANDBY,
    SWITCHOVER_ID,
)
from tests.cli.conftest import CR, TOKEN, ApiServer

pytestmark = pytest.mark.anyio

ALL_STEPS = [
    "[1/7] validate-lease",
    "[2/7] cordon-old-primary",
    "[3/7] drain-http",
    "[4/7] flip-dns",
    "[5/7] swap-lease",
    "[6/7] promote-new-primary",
    "[7/7] audit-emit",
]


def _switchovers(api: ApiServer) -> list[SwitchoverRequest]:
    return [m for m in api.scenario.received if isinstance(m, SwitchoverRequest)]


def _progress(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("[")]


async def _switchover(api: ApiServer, *extra: str, stdin: str = "") -> tuple[int, str, str]:
    run = await api.cli(
        "switchover",
        CR,
        "--to",
        STANDBY,
        "--token",
        TOKEN,
        "--poll-interval",
        "1",
        *extra,
        stdin=stdin,
    )
    return run.code, run.out, run.err


async def test_answering_no_sends_no_switchover_and_exits_one(api: ApiServer) -> None:
    code, out, err = await _switchover(api, stdin="n\n")
    assert code == EXIT_FAILED
    assert f"Switch {CR} from eu-west to {STANDBY}? [y/N]" in err
    assert "aborted; nothing was changed" in err
    assert "DryRun" in out
    assert _switchovers(api) == []


async def test_end_of_input_at_the_prompt_counts_as_no(api: ApiServer) -> None:
    code, _out, _err = await _switchover(api, stdin="")
    assert code == EXIT_FAILED
    assert _switchovers(api) == []


async def test_answering_yes_posts_the_dry_runs_fingerprint(api: ApiServer) -> None:
    code, _out, err = await _switchover(api, "--reason", "drill", stdin="y\n")
    assert code == EXIT_OK, err
    assert _switchovers(api) == [
        SwitchoverRequest(
            toRegion=STANDBY, fingerprint=FINGERPRINT, reason="drill", initiatedBy="api"
        )
    ]
    assert api.scenario.received[0] == DryRunRequest(toRegion=STANDBY, reason="drill")


async def test_yes_flag_skips_the_prompt(api: ApiServer) -> None:
    code, _out, err = await _switchover(api, "--yes")
    assert code == EXIT_OK
    assert "[y/N]" not in err
    assert len(_switchovers(api)) == 1


async def test_blockers_refuse_before_asking_and_exit_three(api: ApiServer) -> None:
    api.scenario.blockers = ["standby not ready"]
    code, out, err = await _switchover(api, "--yes")
    assert code == EXIT_BLOCKED
    assert "  - standby not ready" in out
    assert "DryRun has blockers" in err
    assert _switchovers(api) == []


async def test_a_409_prints_why_and_the_current_report_and_exits_four(api: ApiServer) -> None:
    api.scenario.fingerprint_changes = True
    code, out, err = await _switchover(api, "--yes")
    assert code == EXIT_REFUSED
    assert "refused (fingerprint-mismatch): the plan changed since your DryRun" in err
    assert f"fingerprint {CHANGED_FINGERPRINT}" in out
    assert _progress(out) == []


async def test_progress_prints_one_line_per_step_then_the_result_and_health(
    api: ApiServer,
) -> None:
    code, out, err = await _switchover(api, "--yes")
    assert code == EXIT_OK, err
    assert f"switchover {SWITCHOVER_ID} started: eu-west → {STANDBY}" in out
    assert _progress(out) == ALL_STEPS
    tail = out.split("[7/7] audit-emit\n", 1)[1].splitlines()
    assert tail[0] == f"{SWITCHOVER_ID} Succeeded: eu-west → {STANDBY} in 21.5 s"
    assert tail[1] == "waiting for the health report (up to 120s)..."
    assert tail[2].startswith(f"health {CR}: HEALTHY")
    assert [row.split()[0] for row in tail[5:]] == [
        "replicas-healthy",
        "dns-probes",
        "latency-normal",
        "audit-posted",
    ]


async def test_steps_finished_between_two_polls_are_still_each_reported_once(
    api: ApiServer,
) -> None:
    api.scenario.ticks_per_status = 3
    code, out, _err = await _switchover(api, "--yes")
    assert code == EXIT_OK
    assert _progress(out) == ALL_STEPS


async def test_polling_waits_on_the_injected_clock_between_status_asks(api: ApiServer) -> None:
    code, _out, _err = await _switchover(api, "--yes", "--poll-interval", "2")
    assert code == EXIT_OK
    assert api.time.sleeps
    assert set(api.time.sleeps) == {2.0}


async def test_a_failed_switchover_shows_compensation_and_exits_five(api: ApiServer) -> None:
    api.scenario.fail_at = "flip-dns"
    code, out, _err = await _switchover(api, "--yes")
    assert code == EXIT_SWITCHOVER_FAILED
    assert _progress(out) == [
        "[1/7] validate-lease",
        "[2/7] cordon-old-primary",
        "[3/7] drain-http",
        "[4/7] flip-dns",
        "[3/7] drain-http: compensating",
        "[2/7] cordon-old-primary: compensating",
        "[1/7] validate-lease: compensating",
    ]
    assert (
        f"{SWITCHOVER_ID} Compensated: eu-west → {STANDBY} in 21.5 s; failed at flip-dns: "
        "route write timed out; compensated drain-http, cordon-old-primary, validate-lease"
    ) in out
    assert "waiting for the health report" not in out


async def test_unhealthy_after_switchover_exits_three(api: ApiServer) -> None:
    api.scenario.health_verdict = "unhealthy"
    code, out, _err = await _switchover(api, "--yes")
    assert code == EXIT_UNHEALTHY
    assert f"health {CR}: UNHEALTHY" in out


async def test_health_wait_gives_up_after_the_given_seconds_and_exits_three(
    api: ApiServer,
) -> None:
    api.scenario.health_lands = False
    code, out, err = await _switchover(api, "--yes", "--health-wait", "5")
    assert code == EXIT_UNHEALTHY
    assert "Succeeded" in out
    assert f"no health report for switchover {SWITCHOVER_ID} after 5s" in err
    assert f"continuum health {CR}" in err


async def test_follow_gives_up_after_wait_seconds_and_exits_one(api: ApiServer) -> None:
    code, _out, err = await _switchover(api, "--yes", "--wait", "2")
    assert code == EXIT_FAILED
    assert f"switchover {SWITCHOVER_ID} still running after 2s" in err


async def test_a_503_while_following_is_retried_and_reported_once(api: ApiServer) -> None:
    api.scenario.unavailable_ticks = 3
    code, out, err = await _switchover(api, "--yes")
    assert code == EXIT_OK, err
    assert _progress(out) == ALL_STEPS
    assert err.count("still following") == 1
    assert "HTTP 503" not in out


async def test_json_mode_prints_one_json_object_per_line(api: ApiServer) -> None:
    code, out, _err = await _switchover(api, "--yes", "--json")
    assert code == EXIT_OK
    records = [json.loads(line) for line in out.splitlines()]
    kinds = [next(iter(r)) for r in records]
    assert kinds == ["dryRun", "accepted", *["step"] * 7, "lastSwitchover", "health"]
    assert records[0]["dryRun"]["planFingerprint"] == FINGERPRINT
    assert records[1]["accepted"]["id"] == SWITCHOVER_ID
    assert records[2]["step"] == {"index": 1, "step": "validate-lease", "state": "running"}
    assert records[-2]["lastSwitchover"]["result"] == "Succeeded"
    assert records[-1]["health"]["verdict"] == "healthy"
