"""``Ready`` follows the phase: True when a writer serves (Healthy, FailedOver), Unknown while
it is not yet known or moving (Pending, SwitchingOver), False otherwise (Degraded, Failed);
the reason is the phase and the message is carried as given."""

from __future__ import annotations

from typing import get_args

import pytest

from continuum.actors.continuum.view import ready_condition
from continuum.messages.status import Phase

EXPECTED = {
    "Healthy": "True",
    "FailedOver": "True",
    "Pending": "Unknown",
    "SwitchingOver": "Unknown",
    "Degraded": "False",
    "Failed": "False",
}


def test_the_table_names_every_phase() -> None:
    assert set(EXPECTED) == set(get_args(Phase))


@pytest.mark.parametrize(("phase", "status"), sorted(EXPECTED.items()))
def test_ready_status_and_reason_follow_the_phase(phase: Phase, status: str) -> None:
    """TestPhaseToReady."""
    condition = ready_condition(phase, f"why {phase}")
    assert (condition.type, condition.status, condition.reason, condition.message) == (
        "Ready",
        status,
        phase,
        f"why {phase}",
    )
