"""Deleting a Continuum in the middle of a switchover, as ``kubectl delete`` does (a DELETE
through kubernetes-asyncio to region A's emulated API server), with both controllers running:

- the finalizer holds region A's copy (``deletionTimestamp`` set, the journal in its status)
  while A's instance finishes the run; no new switchover is accepted meanwhile (409
  ``being-deleted``, the DryRun blocks);
- once the run has ended, the copy is gone within seconds, and its last state recorded the
  finished run (the journal was closed before the finalizer went);
- the servers agree on one writer, B (B's instance adopts the lease and converges its
  region's route);
- region B's copy, deleted while its instance is idle and the world agrees with it, is gone
  at once (``kubectl delete`` does not hang while the controller runs).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from continuum.messages.crd import API_GROUP, FINALIZER, PLURAL
from continuum_sim.kube.watch import WatchEvent
from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import controllers, eventually
from tests.e2e.helpers import A, B, confirm, dry_run, writer_becomes, writer_is

pytestmark = pytest.mark.anyio

GONE_WITHIN = 5.0
"""Real seconds between the end of the run (or an idle instance's deletion) and the CR's
disappearance: the instance removes the finalizer as soon as it learns either."""


def _stored(stack: SimStack, region: str) -> dict[str, Any] | None:
    return stack.emulators[region].store.get(
        API_GROUP, PLURAL, stack.spec.namespace, stack.spec.name
    )


def _journal_step(stack: SimStack, region: str) -> str:
    stored = _stored(stack, region) or {}
    return str(((stored.get("status") or {}).get("switchover") or {}).get("step") or "")


async def _kubectl_delete(stack: SimStack, region: str) -> None:
    await stack.clients.for_region(region).custom.delete_namespaced_custom_object(
        API_GROUP, "v1", stack.spec.namespace, PLURAL, stack.spec.name
    )


async def test_deleting_the_cr_mid_switchover_waits_for_the_run_then_it_is_gone(
    tmp_path: Path,
) -> None:
    spec = StackSpec(drain_seconds=3, renew_seconds=2, ttl_seconds=10)
    async with SimStack(tmp_path, spec=spec) as stack:
        seen: dict[str, Any] = {}
        """Region A's copy as its API server committed it: when the journal closed, and the
        last state at deletion."""

        def on_event(event: WatchEvent) -> None:
            if (event.object.get("metadata") or {}).get("name") != stack.spec.name:
                return
            journal = (event.object.get("status") or {}).get("switchover")
            if journal is not None:
                seen["journal"] = journal["id"]
            elif "journal" in seen and "closed_at" not in seen:
                seen["closed_at"] = time.monotonic()
            if event.type == "DELETED":
                seen["deleted_at"], seen["last"] = time.monotonic(), event.object

        stack.emulators[A].store.subscribe(on_event)
        async with controllers(stack) as run:
            for region in (A, B):
                await eventually(
                    lambda r=region: (
                        FINALIZER
                        in ((_stored(stack, r) or {}).get("metadata") or {}).get("finalizers", [])
                    ),
                    what=f"{region}'s instance added its finalizer",
                )
            await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
            report = await dry_run(run, A, B)
            assert report.get("blockers", []) == [], report
            accepted = await confirm(run, A, B, report["planFingerprint"])
            assert accepted.status_code == 202, accepted.text
            sid = accepted.json()["id"]
            await eventually(lambda: _journal_step(stack, A) == "drain-http", timeout=10)

            await _kubectl_delete(stack, A)
            held = _stored(stack, A)
            assert held is not None, "deleted at once: the finalizer did not hold it"
            assert held["metadata"]["deletionTimestamp"]
            assert FINALIZER in held["metadata"]["finalizers"]
            assert held["status"]["switchover"]["id"] == sid

            refused = await confirm(run, A, B, report["planFingerprint"])
            assert refused.status_code == 409, refused.text
            assert refused.json()["detail"]["reason"] == "being-deleted", refused.text
            blocked = await dry_run(run, A, B)
            assert any("being deleted" in b for b in blocked["blockers"]), blocked

            # Held until the run has ended (its journal closed), then gone promptly.
            await eventually(lambda: _stored(stack, A) is None, timeout=30, what="A's CR gone")
            assert seen["journal"] == sid
            assert seen["deleted_at"] - seen["closed_at"] < GONE_WITHIN
            last = seen["last"]
            assert "switchover" not in last["status"], last["status"]
            finished = last["status"]["lastSwitchover"]
            assert finished["id"] == sid
            assert finished["result"] == "Succeeded", finished

            # B's instance adopts the lease and converges its own region's route.
            await writer_becomes(stack, B, timeout=3 * spec.renew_seconds + 5)

            # An idle instance lets go at once: kubectl delete returns and the CR is gone.
            await _kubectl_delete(stack, B)
            await eventually(
                lambda: _stored(stack, B) is None, timeout=GONE_WITHIN, what="B's CR gone"
            )
            assert await writer_is(stack, B) == []
