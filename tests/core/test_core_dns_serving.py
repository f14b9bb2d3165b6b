"""The pure rule of what PowerDNS serves (``continuum.core.dns_serving``): records that name
the holder but answers of the standby group (``ifurlup``'s fallback) are reported, after two
observations, and cleared on the first that answers the holder again."""

from __future__ import annotations

from continuum.core.dns_serving import (
    REASON_AGREES,
    REASON_FALLBACK,
    ServedAnswer,
    ServingQuery,
    ServingState,
    decide,
    fallbacks,
)

A, B = "region-a", "region-b"
A_IP, B_IP = "127.0.10.1", "127.0.20.1"
WWW, API = "www.shop.test", "api.shop.test"
URL = "http://probe-region-a.shop.test:8080/healthz"
SERVERS = ("127.0.0.1", "127.0.0.2")


def query(holder: str = A) -> ServingQuery:
    return ServingQuery(
        holder=holder,
        region_ips={A: (A_IP,), B: (B_IP,)},
        hostnames=(WWW, API),
        health_url=URL,
    )


def answers(ip: str, *, hosts: tuple[str, ...] = (WWW, API)) -> list[ServedAnswer]:
    return [ServedAnswer(hostname=h, server=s, addresses=(ip,)) for h in hosts for s in SERVERS]


def step(
    state: ServingState,
    got: list[ServedAnswer] | None,
    *,
    wrong: tuple[str, ...] | None = (),
    holder: str = A,
    running: bool = False,
) -> tuple[ServingState, tuple[bool, str, str] | None]:
    state, verdict = decide(state, query(holder), got, records_wrong=wrong, run_under_way=running)
    return state, (verdict.serving, verdict.reason, verdict.message) if verdict else None


def test_answers_naming_the_holder_serve_it() -> None:
    state, verdict = step(ServingState(), answers(A_IP))
    assert verdict is not None
    assert verdict[:2] == (True, REASON_AGREES)
    assert not state.falling_back


def test_fallback_is_reported_on_the_second_observation_naming_host_address_and_url() -> None:
    state, verdict = step(ServingState(), answers(B_IP))
    assert verdict is None  # one odd answer changes nothing yet
    assert not state.falling_back
    state, verdict = step(state, answers(B_IP))
    assert verdict is not None
    serving, reason, message = verdict
    assert (serving, reason) == (False, REASON_FALLBACK)
    for part in (WWW, API, B_IP, URL, "127.0.0.1"):
        assert part in message, (part, message)
    assert state.falling_back


def test_report_clears_on_the_first_observation_answering_the_holder() -> None:
    state, _ = step(ServingState(), answers(B_IP))
    state, _ = step(state, answers(B_IP))
    state, verdict = step(state, answers(A_IP))
    assert verdict is not None
    assert verdict[:2] == (True, REASON_AGREES)
    assert not state.falling_back


def test_one_server_falling_back_is_enough() -> None:
    mixed = [
        ServedAnswer(hostname=WWW, server=SERVERS[0], addresses=(A_IP,)),
        ServedAnswer(hostname=WWW, server=SERVERS[1], addresses=(B_IP,)),
    ]
    found, judged = fallbacks(query(), mixed, records_wrong=())
    assert judged
    assert [(f.hostname, f.server, f.addresses, f.regions) for f in found] == [
        (WWW, SERVERS[1], (B_IP,), (B,))
    ]


def test_hostnames_whose_records_disagree_are_not_judged() -> None:
    """Records naming another region are ``DnsMismatch`` (converged), not a fallback."""
    state, _ = step(ServingState(), answers(B_IP), wrong=(WWW, API))
    state, verdict = step(state, answers(B_IP), wrong=(WWW, API))
    assert verdict is None
    assert not state.falling_back
    state, _ = step(ServingState(), answers(B_IP), wrong=(WWW,))
    state, verdict = step(state, answers(B_IP), wrong=(WWW,))
    assert verdict is not None
    assert not verdict[0]
    assert [f.hostname for f in state.reported] == [API]


def test_nothing_judged_leaves_the_last_verdict_standing() -> None:
    state, _ = step(ServingState(), answers(B_IP))
    state, _ = step(state, answers(B_IP))
    unanswered = [ServedAnswer(hostname=WWW, server=s, error="timeout") for s in SERVERS]
    for got, wrong, running in (
        (None, (), False),  # not observed
        (answers(A_IP), None, False),  # records unreadable: agreement unknown
        (answers(A_IP), (), True),  # a run of this instance owns the world
        (unanswered, (), False),  # no server answered
    ):
        after, verdict = step(state, got, wrong=wrong, running=running)
        assert verdict is None
        assert after == state


def test_empty_or_foreign_answers_are_no_fallback() -> None:
    got = [
        ServedAnswer(hostname=WWW, server=SERVERS[0], addresses=()),
        ServedAnswer(hostname=API, server=SERVERS[0], addresses=("192.0.2.9",)),
    ]
    found, judged = fallbacks(query(), got, records_wrong=())
    assert judged
    assert found == ()


def test_a_new_holder_starts_afresh() -> None:
    state, _ = step(ServingState(), answers(B_IP))
    state, _ = step(state, answers(B_IP))
    assert state.falling_back
    # B now holds: B's addresses are the holder's; A's would be the fallback.
    state, verdict = step(state, answers(B_IP), holder=B)
    assert verdict is not None
    assert verdict[:2] == (True, REASON_AGREES)
    state, verdict = step(state, answers(A_IP), holder=B)
    assert verdict is None  # seen once for this holder
    state, verdict = step(state, answers(A_IP), holder=B)
    assert verdict is not None
    assert verdict[:2] == (False, REASON_FALLBACK)
