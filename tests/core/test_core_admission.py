"""The admission of a switchover request (``continuum/core/admission.py``): each refusal in
its order, the DryRun stage, the failback gate and its announcement."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum.core.admission import (
    Accepted,
    AdmissionFacts,
    NeedsPreview,
    Preview,
    Refused,
    SwitchoverAsk,
    admit,
    executed_reason,
)

FACTS = AdmissionFacts(
    key="apps/shop",
    region="region-b",
    primary_region="region-a",
    acting_primary="region-b",
    acting=True,
)
TO_C = SwitchoverAsk(to_region="region-c", fingerprint="fp", reason="", initiated_by="ops")
TO_A = SwitchoverAsk(to_region="region-a", fingerprint="fp")
CLEAN = Preview(fingerprint="fp")


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (FACTS, None),
        (
            AdmissionFacts(
                key="apps/shop",
                region="region-b",
                primary_region="region-a",
                acting_primary="region-b",
                acting=True,
                deleting=True,
                running_id="r1",
            ),
            "being-deleted",
        ),
        (
            AdmissionFacts(
                key="apps/shop",
                region="region-b",
                primary_region="region-a",
                acting_primary="region-b",
                acting=False,
                running_id="r1",
            ),
            "already-running",
        ),
        (
            AdmissionFacts(
                key="apps/shop",
                region="region-b",
                primary_region="region-a",
                acting_primary="region-a",
                acting=False,
            ),
            "not-acting",
        ),
    ],
)
def test_the_checks_before_the_dryrun_refuse_in_order(
    facts: AdmissionFacts, reason: str | None
) -> None:
    decision = admit(facts, TO_C, None)
    if reason is None:
        assert decision == NeedsPreview()
        return
    assert isinstance(decision, Refused)
    assert decision.reason == reason
    assert (decision.with_report, decision.announce_failback) == (False, False)
    # The same refusal holds once a DryRun is given: nothing is accepted past it.
    assert admit(facts, TO_C, CLEAN) == decision


def test_the_refusal_messages_name_what_to_do() -> None:
    deleting = admit(_with(deleting=True), TO_C, None)
    assert isinstance(deleting, Refused)
    assert deleting.message.startswith("apps/shop is being deleted in region-b")
    running = admit(_with(running_id="20260101T000000Z-abcd"), TO_C, None)
    assert isinstance(running, Refused)
    assert running.message == "switchover 20260101T000000Z-abcd is running"
    standby = admit(_with(acting=False, acting_primary="region-a"), TO_C, None)
    assert isinstance(standby, Refused)
    assert standby.message == (
        "region region-b is not the acting writer; ask the instance of region-a"
    )


@pytest.mark.parametrize(
    ("ask", "preview", "facts", "reason", "with_report", "announce"),
    [
        (SwitchoverAsk(to_region="region-b", fingerprint="fp"), CLEAN, FACTS, "no-op", False, 0),
        (TO_C, Preview(fingerprint="other"), FACTS, "fingerprint-mismatch", True, 0),
        (TO_C, Preview(fingerprint="fp", blockers=("a", "b")), FACTS, "blockers", True, 0),
        (TO_A, CLEAN, FACTS, "failback-approval-required", True, 1),
        # A mismatch is refused before the failback gate, without announcing it.
        (TO_A, Preview(fingerprint="x"), FACTS, "fingerprint-mismatch", True, 0),
    ],
)
def test_the_checks_after_the_dryrun_refuse_in_order(
    ask: SwitchoverAsk,
    preview: Preview,
    facts: AdmissionFacts,
    reason: str,
    with_report: bool,
    announce: int,
) -> None:
    decision = admit(facts, ask, preview)
    assert isinstance(decision, Refused)
    assert (decision.reason, decision.with_report, decision.announce_failback) == (
        reason,
        with_report,
        bool(announce),
    )


def test_blockers_are_the_refusal_message() -> None:
    decision = admit(FACTS, TO_C, Preview(fingerprint="fp", blockers=("step-1: x", "step-5: y")))
    assert isinstance(decision, Refused)
    assert decision.message == "step-1: x; step-5: y"


def test_a_clean_switchover_is_accepted_from_the_acting_primary() -> None:
    assert admit(FACTS, TO_C, CLEAN) == Accepted(
        from_region="region-b",
        to_region="region-c",
        reason="operator-requested",
        initiated_by="ops",
    )


def test_an_approved_failback_runs_as_failback() -> None:
    decision = admit(_with(approved=True), TO_A, CLEAN)
    assert decision == Accepted(
        from_region="region-b",
        to_region="region-a",
        reason="failback",
        initiated_by="api",
        failback=True,
    )


def test_an_ungated_failback_runs_without_approval() -> None:
    decision = admit(_with(require_approval=False), TO_A, CLEAN)
    assert isinstance(decision, Accepted)
    assert decision.failback is True


@pytest.mark.parametrize(
    ("to_region", "requested", "expected"),
    [
        ("region-a", "planned-maintenance", "failback"),
        ("region-c", "planned-maintenance", "planned-maintenance"),
        ("region-c", "", "operator-requested"),
    ],
)
def test_the_executed_reason(to_region: str, requested: str, expected: str) -> None:
    assert (
        executed_reason(to_region=to_region, primary_region="region-a", requested=requested)
        == expected
    )


REGIONS = st.sampled_from(["region-a", "region-b", "region-c"])


@given(
    deleting=st.booleans(),
    running=st.booleans(),
    acting=st.booleans(),
    acting_primary=REGIONS,
    to_region=REGIONS,
    same_fingerprint=st.booleans(),
    blocked=st.booleans(),
    require_approval=st.booleans(),
    approved=st.booleans(),
)
def test_an_accepted_switchover_always_passed_every_check(
    deleting: bool,
    running: bool,
    acting: bool,
    acting_primary: str,
    to_region: str,
    same_fingerprint: bool,
    blocked: bool,
    require_approval: bool,
    approved: bool,
) -> None:
    facts = AdmissionFacts(
        key="apps/shop",
        region="region-b",
        primary_region="region-a",
        acting_primary=acting_primary,
        acting=acting,
        deleting=deleting,
        running_id="r" if running else "",
        require_approval=require_approval,
        approved=approved,
    )
    ask = SwitchoverAsk(to_region=to_region, fingerprint="fp")
    preview = Preview(fingerprint="fp" if same_fingerprint else "x", blockers=("b",) * blocked)
    decision = admit(facts, ask, preview)
    assert not isinstance(decision, NeedsPreview)
    if isinstance(decision, Accepted):
        assert (deleting, running, acting, same_fingerprint, blocked) == (
            False,
            False,
            True,
            True,
            False,
        )
        assert decision.from_region == acting_primary != decision.to_region == to_region
        failback = to_region == "region-a"
        assert decision.failback == failback
        assert not failback or approved or not require_approval


def _with(**changes: object) -> AdmissionFacts:
    return msgspec.structs.replace(FACTS, **changes)
