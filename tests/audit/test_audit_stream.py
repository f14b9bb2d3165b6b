"""The audit stream contract at a real JetStream: created as specified, verified, refused."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import api as jsapi

from continuum.adapters.nats import (
    AuditStreamMismatch,
    AuditStreamSpec,
    JetStreamAuditTransport,
    ensure_stream,
    subject_covers,
)
from continuum_sim.nats import NatsServer

pytestmark = pytest.mark.anyio


async def test_missing_stream_is_created_with_file_storage_7d_and_a_dup_window(
    nats_client: NatsClient,
) -> None:
    js: Any = nats_client.jetstream()
    await ensure_stream(js, AuditStreamSpec(), subject="catalyst.audit")
    config = (await js.stream_info("CATALYST_AUDIT")).config
    assert config.subjects == ["catalyst.audit"]
    assert config.storage == jsapi.StorageType.FILE
    assert config.retention == jsapi.RetentionPolicy.LIMITS
    assert config.max_age == pytest.approx(7 * 24 * 3600)
    assert config.duplicate_window == pytest.approx(120)


async def test_compatible_existing_stream_is_verified_and_left_unchanged(
    nats_client: NatsClient,
) -> None:
    js: Any = nats_client.jetstream()
    await js.add_stream(
        name="CATALYST_AUDIT", subjects=["catalyst.>"], duplicate_window=600, max_age=3600
    )
    await ensure_stream(js, AuditStreamSpec(), subject="catalyst.audit")
    config = (await js.stream_info("CATALYST_AUDIT")).config
    assert config.subjects == ["catalyst.>"]
    assert config.max_age == pytest.approx(3600)


async def test_incompatible_existing_stream_fails_with_every_problem_named(
    nats_client: NatsClient,
) -> None:
    js: Any = nats_client.jetstream()
    await js.add_stream(
        name="CATALYST_AUDIT",
        subjects=["other.audit"],
        duplicate_window=0.1,
        retention=jsapi.RetentionPolicy.WORK_QUEUE,
        no_ack=True,
    )
    with pytest.raises(AuditStreamMismatch) as caught:
        await ensure_stream(js, AuditStreamSpec(), subject="catalyst.audit")
    text = str(caught.value)
    assert "'CATALYST_AUDIT' exists but is incompatible" in text
    assert "do not cover 'catalyst.audit'" in text
    assert "duplicate window (0.1s) is shorter than 10s" in text
    assert "no_ack" in text
    assert "workqueue" in text


async def test_creators_racing_for_the_missing_stream_all_succeed_on_one_stream(
    nats_server: NatsServer,
) -> None:
    """Two replicas (or regions) starting at the same instant both find the stream missing
    and both create it: the loser verifies the winner's stream instead of failing."""
    clients = [await nats.connect(nats_server.url) for _ in range(4)]
    try:
        streams = [c.jetstream() for c in clients]
        infos = await asyncio.gather(
            *(ensure_stream(js, AuditStreamSpec(), subject="catalyst.audit") for js in streams)
        )
        assert {info.config.name for info in infos} == {"CATALYST_AUDIT"}
        names = await streams[0].streams_info()
        assert [s.config.name for s in names] == ["CATALYST_AUDIT"]
    finally:
        for c in clients:
            await c.close()


async def test_concurrent_setups_of_one_transport_share_one_connection(
    nats_server: NatsServer,
) -> None:
    """The publisher's background setup and a flush may both call ``setup()``: one connects
    and verifies, the other finds that done."""
    wire = JetStreamAuditTransport(nats_server.url, stream=AuditStreamSpec(), connect_timeout=1.0)
    try:
        await asyncio.gather(*(wire.setup() for _ in range(5)))
        assert wire.connected
    finally:
        await wire.aclose()


async def test_missing_stream_is_an_error_when_creation_is_disabled(
    nats_client: NatsClient,
) -> None:
    js: Any = nats_client.jetstream()
    with pytest.raises(AuditStreamMismatch, match="does not exist and creating it is disabled"):
        await ensure_stream(js, AuditStreamSpec(create=False), subject="catalyst.audit")


async def test_subject_taken_by_another_stream_is_a_clear_error(nats_client: NatsClient) -> None:
    js: Any = nats_client.jetstream()
    await js.add_stream(name="SOMEONE_ELSE", subjects=["catalyst.audit"])
    with pytest.raises(AuditStreamMismatch, match="cannot create audit stream 'CATALYST_AUDIT'"):
        await ensure_stream(js, AuditStreamSpec(), subject="catalyst.audit")


@pytest.mark.parametrize(
    ("pattern", "subject", "covered"),
    [
        ("catalyst.audit", "catalyst.audit", True),
        ("catalyst.*", "catalyst.audit", True),
        ("catalyst.>", "catalyst.audit", True),
        (">", "catalyst.audit", True),
        ("catalyst.audit.>", "catalyst.audit", False),
        ("catalyst", "catalyst.audit", False),
        ("*.audit", "catalyst.audit", True),
        ("catalyst.audits", "catalyst.audit", False),
    ],
)
def test_subject_wildcards_cover_as_nats_matches(pattern: str, subject: str, covered: bool) -> None:
    assert subject_covers(pattern, subject) is covered
