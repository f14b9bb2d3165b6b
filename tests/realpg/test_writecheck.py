"""The write checker's verdicts, on plain data (no server)."""

from __future__ import annotations

from continuum_sim.writecheck import Ack, Transition, check

A, B = "region-a", "region-b"


def ack(seq: int, region: str, *, t: float, tli: int = 1, lsn: str = "0/100") -> Ack:
    return Ack(seq=seq, region=region, timeline=tli, lsn=lsn, sent=t, acked=t + 0.01)


def test_an_acknowledged_write_missing_from_the_final_primary_is_lost() -> None:
    acks = [ack(1, A, t=1), ack(2, A, t=2)]
    report = check(acks, {1: A}, [])
    assert report.lost == (2,)
    assert report.acknowledged == 2


def test_a_write_sent_to_a_region_after_its_demotion_is_split_brain_until_promoted_again() -> None:
    changes = [
        Transition(region=A, kind="demoted", at=10, timeline=1, lsn="0/500"),
        Transition(region=A, kind="promoted", at=20, timeline=3),
    ]
    acks = [
        ack(1, A, t=9, lsn="0/400"),
        ack(2, A, t=11, lsn="0/400"),
        ack(3, A, t=21, tli=3, lsn="0/900"),
    ]
    report = check(acks, {1: A, 2: A, 3: A}, changes)
    assert report.split_brain == (2,)


def test_a_write_past_the_demotion_checkpoint_on_its_timeline_is_split_brain() -> None:
    changes = [Transition(region=A, kind="demoted", at=10, timeline=1, lsn="0/500")]
    acks = [ack(1, A, t=5, lsn="0/4FF"), ack(2, A, t=6, lsn="0/501")]
    assert check(acks, {1: A, 2: A}, changes).split_brain == (2,)


def test_a_fenced_region_accepting_a_write_is_split_brain_until_unfenced() -> None:
    changes = [
        Transition(region=B, kind="fenced", at=10),
        Transition(region=B, kind="unfenced", at=20),
    ]
    acks = [ack(1, B, t=15), ack(2, B, t=25)]
    assert check(acks, {1: B, 2: B}, changes).split_brain == (1,)


def test_two_regions_writing_one_timeline_is_a_timeline_anomaly() -> None:
    acks = [ack(1, A, t=1, tli=2), ack(2, B, t=2, tli=2), ack(3, B, t=3, tli=1)]
    anomalies = check(acks, {1: A, 2: B, 3: B}, []).timeline_anomalies
    assert anomalies == (
        "timeline 2 written by region-a and region-b (seq 2)",
        "region-b went back from timeline 2 to 1 (seq 3)",
    )


def test_the_write_pause_is_the_longest_gap_between_acknowledgements() -> None:
    acks = [ack(1, A, t=1), ack(2, A, t=1.1), ack(4, B, t=3.1, tli=2), ack(5, B, t=3.2, tli=2)]
    report = check(acks, {1: A, 2: A, 4: B, 5: B}, [], sent=[1, 2, 3, 4, 5])
    assert round(report.pause, 6) == 2.0
    assert (report.pause_from, report.pause_to) == (2, 4)
    assert report.committed_unacknowledged == 0
    assert report.regions == {A: 2, B: 2}
    assert "lost 0, split-brain 0" in report.summary()


def test_a_write_committed_without_its_acknowledgement_is_counted_not_lost() -> None:
    report = check([ack(1, A, t=1)], {1: A, 2: A}, [], sent=[1, 2])
    assert report.committed_unacknowledged == 1
    assert report.lost == ()
