"""The API commands of the CLI: ``dry-run``, ``health``, ``status`` and ``switchover``.

Each turns parsed arguments into calls of :class:`continuum.cli.client.ApiClient`, prints
tables (``continuum.cli.render``) or, with ``--json``, the server's own JSON, and returns the
exit code documented in ``continuum.cli.exits``. Errors go to stderr as one ``continuum: …`` line;
with ``--json`` the server's error body (when there is one) also goes to stdout.
"""

from __future__ import annotations

import argparse
from typing import Final

import msgspec

from continuum.cli.client import (
    DEFAULT_API_URL,
    ApiClient,
    ApiRequestError,
    FollowTimeout,
    Refused,
    StepSeen,
    SwitchoverFollower,
    Timing,
)
from continuum.cli.exits import (
    EXIT_BLOCKED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_SWITCHOVER_FAILED,
    EXIT_UNHEALTHY,
)
from continuum.cli.render import (
    render_dry_run,
    render_health,
    render_refusal,
    render_result,
    render_step,
    render_summaries,
    render_summary,
)
from continuum.cli.terminal import Terminal

API_URL_ENV: Final = "CONTINUUM_API_URL"
API_TOKEN_ENV: Final = "CONTINUUM_API_TOKEN"


def _client(args: argparse.Namespace, term: Terminal) -> ApiClient:
    url = args.api or term.environ.get(API_URL_ENV) or DEFAULT_API_URL
    token = args.token if args.token is not None else term.environ.get(API_TOKEN_ENV, "")
    return ApiClient(base_url=url, token=token or None, timeout=args.timeout)


def _json_line(key: str, raw: bytes) -> str:
    """``{"<key>": <raw JSON>}`` without re-encoding the server's bytes."""
    return '{"' + key + '":' + raw.decode("utf-8").strip() + "}"


def _report_error(err: ApiRequestError, args: argparse.Namespace, term: Terminal) -> int:
    term.err(f"continuum: {err}")
    if isinstance(err.detail, list):
        for item in err.detail:
            if isinstance(item, dict) and "field" in item:
                term.err(f"  {item.get('field')}: {item.get('message', '')}")
    if args.json and err.body:
        term.out(err.body.decode("utf-8", "replace").strip())
    return EXIT_FAILED


def run_api_command(args: argparse.Namespace, term: Terminal) -> int:
    """Run ``dry-run``, ``health``, ``status`` or ``switchover``; returns the exit code."""
    commands = {
        "dry-run": _dry_run,
        "health": _health,
        "status": _status,
        "switchover": _switchover,
    }
    with _client(args, term) as client:
        try:
            return commands[args.command](client, args, term)
        except ApiRequestError as err:
            return _report_error(err, args, term)
        except KeyboardInterrupt:
            if args.command == "switchover":
                ns, name = args.target
                term.err(
                    "continuum: interrupted; a switchover already started goes on in the "
                    f"controller (follow it with: continuum status {ns}/{name})"
                )
            return EXIT_INTERRUPTED


def _dry_run(client: ApiClient, args: argparse.Namespace, term: Terminal) -> int:
    ns, name = args.target
    reply = client.dry_run(ns, name, to_region=args.to, reason=args.reason)
    if args.json:
        term.out(reply.body.decode("utf-8").strip())
    else:
        term.out(render_dry_run(reply.value, target=f"{ns}/{name}", to_region=args.to))
    return EXIT_BLOCKED if reply.value.blockers else EXIT_OK


def _health(client: ApiClient, args: argparse.Namespace, term: Terminal) -> int:
    ns, name = args.target
    reply = client.health(ns, name, fresh=args.fresh)
    if args.json:
        term.out(reply.body.decode("utf-8").strip())
    else:
        term.out(render_health(reply.value, target=f"{ns}/{name}"))
    return EXIT_OK if reply.value.verdict == "healthy" else EXIT_UNHEALTHY


def _status(client: ApiClient, args: argparse.Namespace, term: Terminal) -> int:
    if args.target is None:
        many = client.list_continuums()
        term.out(many.body.decode("utf-8").strip() if args.json else render_summaries(many.value))
        return EXIT_OK
    ns, name = args.target
    one = client.get_continuum(ns, name)
    term.out(one.body.decode("utf-8").strip() if args.json else render_summary(one.value))
    return EXIT_OK


def _confirm(term: Terminal, question: str) -> bool:
    term.stderr.write(f"{question} [y/N] ")
    term.stderr.flush()
    answer = term.stdin.readline()
    if not answer:
        term.err("")
    return answer.strip().lower() in ("y", "yes")


def _switchover(client: ApiClient, args: argparse.Namespace, term: Terminal) -> int:
    ns, name = args.target
    target = f"{ns}/{name}"
    plan = client.dry_run(ns, name, to_region=args.to, reason=args.reason)
    report = plan.value
    if args.json:
        term.out(_json_line("dryRun", plan.body))
    else:
        term.out(render_dry_run(report, target=target, to_region=args.to))
    if report.blockers:
        term.err(f"continuum: not switching over {target}: the DryRun has blockers")
        return EXIT_BLOCKED
    source = report.leaseHolder or "the acting primary"
    if not args.yes and not _confirm(term, f"Switch {target} from {source} to {args.to}?"):
        term.err("continuum: aborted; nothing was changed")
        return EXIT_FAILED
    try:
        accepted = client.switchover(
            ns, name, to_region=args.to, fingerprint=report.planFingerprint, reason=args.reason
        )
    except Refused as err:
        term.err(f"continuum: switchover of {target} {render_refusal(err.error, err.refusal)}")
        if args.json:
            term.out(_json_line("refused", err.body))
        elif err.refusal is not None and err.refusal.report is not None:
            term.out(render_dry_run(err.refusal.report, target=target, to_region=args.to))
        return EXIT_REFUSED
    started = accepted.value
    if args.json:
        term.out(_json_line("accepted", accepted.body))
    else:
        term.out(f"switchover {started.id} started: {started.fromRegion} → {started.toRegion}")
    return _follow(client, args, term, switchover_id=started.id)


def _follow(
    client: ApiClient, args: argparse.Namespace, term: Terminal, *, switchover_id: str
) -> int:
    ns, name = args.target
    last_retry: list[str] = []

    def on_step(seen: StepSeen) -> None:
        if args.json:
            term.out(_json_line("step", msgspec.json.encode(seen_dict(seen))))
        else:
            term.out(render_step(seen))

    def on_retry(err: ApiRequestError) -> None:
        if last_retry != [err.error]:
            last_retry[:] = [err.error]
            term.err(f"continuum: still following ({err.error}); retrying")

    timing = Timing()
    if term.sleep is not None and term.monotonic is not None:
        timing = Timing(sleep=term.sleep, monotonic=term.monotonic)
    follower = SwitchoverFollower(
        client=client,
        ns=ns,
        name=name,
        switchover_id=switchover_id,
        on_step=on_step,
        on_retry=on_retry,
        poll_interval=args.poll_interval,
        timing=timing,
    )
    try:
        last = follower.follow(wait_seconds=args.wait)
    except FollowTimeout as err:
        term.err(f"continuum: {err}; follow it with: continuum status {ns}/{name}")
        return EXIT_FAILED
    if args.json:
        term.out(_json_line("lastSwitchover", msgspec.json.encode(last)))
    else:
        term.out(render_result(last))
    if last.result != "Succeeded":
        return EXIT_SWITCHOVER_FAILED
    if not args.json:
        term.out(f"waiting for the health report (up to {args.health_wait:g}s)...")
    try:
        health = follower.wait_for_health(wait_seconds=args.health_wait)
    except FollowTimeout as err:
        term.err(f"continuum: {err}; check later with: continuum health {ns}/{name}")
        return EXIT_UNHEALTHY
    if args.json:
        term.out(_json_line("health", health.body))
    else:
        term.out(render_health(health.value, target=f"{ns}/{name}"))
    return EXIT_OK if health.value.verdict == "healthy" else EXIT_UNHEALTHY


def seen_dict(seen: StepSeen) -> dict[str, object]:
    """The ``--json`` form of one progress line."""
    return {"index": seen.index, "step": seen.step, "state": seen.state}
