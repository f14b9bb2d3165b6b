"""Watch: event types, resume, 410 expiry, timeouts, bookmarks, selectors, kills."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from continuum.clock import FakeClock
from continuum_sim.kube import KubeEmulator, WatchEvent
from tests.sim_kube.kube_helpers import (
    GROUP,
    MERGE,
    PLURAL,
    TEST_CRD,
    VERSION,
    continuum,
    create_cr,
    delete_cr,
    patch_cr,
)

pytestmark = pytest.mark.anyio

PATH = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"


class RawWatch:
    """A watch read line by line over plain aiohttp, to see exactly what the server sends."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = 5.0) -> dict[str, Any] | None:
        line = await asyncio.wait_for(self.response.content.readline(), timeout)
        return json.loads(line) if line else None


async def _raw_watch(kube: KubeEmulator, query: str) -> AsyncIterator[RawWatch]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{kube.url}{PATH}?watch=true&{query}") as resp,
    ):
        assert resp.status == 200
        yield RawWatch(resp)


async def _until(predicate: Any, *, seconds: float = 5.0) -> None:
    """Poll in-process state (not a timer) until ``predicate()`` holds."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.002)


async def test_watch_streams_added_modified_deleted(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    seen: list[tuple[str, str]] = []
    async with watch.Watch() as w:
        stream = w.stream(crs.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL)
        await create_cr(crs, continuum("a"))
        async for event in stream:
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if len(seen) == 1:
                await patch_cr(crs, "a", {"spec": {"rto": "1s"}}, content_type=MERGE)
            elif len(seen) == 2:
                await delete_cr(crs, "a")
            else:
                break
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


async def test_watch_without_resource_version_starts_with_existing_objects(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    for name in ("a", "b"):
        await create_cr(crs, continuum(name))
    async for raw in _raw_watch(kube, "resourceVersion=0"):
        first, second = await raw.next(), await raw.next()
        assert first is not None
        assert second is not None
        assert [
            (first["type"], first["object"]["metadata"]["name"]),
            (second["type"], second["object"]["metadata"]["name"]),
        ] == [("ADDED", "a"), ("ADDED", "b")]


async def test_watch_resumes_after_a_resource_version(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    a = await create_cr(crs, continuum("a"))
    await create_cr(crs, continuum("b"))
    await patch_cr(crs, "a", {"spec": {"rto": "1s"}}, content_type=MERGE)
    async for raw in _raw_watch(kube, f"resourceVersion={a['metadata']['resourceVersion']}"):
        events = [await raw.next(), await raw.next()]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events if e] == [
            ("ADDED", "b"),
            ("MODIFIED", "a"),
        ]


async def test_too_old_resource_version_gets_410_and_kubernetes_asyncio_raises(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    a = await create_cr(crs, continuum("a"))
    await patch_cr(crs, "a", {"spec": {"rto": "1s"}}, content_type=MERGE)
    kube.store.compact()
    old = a["metadata"]["resourceVersion"]
    async for raw in _raw_watch(kube, f"resourceVersion={old}"):
        error = await raw.next()
        assert error is not None
        assert error["type"] == "ERROR"
        assert error["object"]["code"] == 410
        assert error["object"]["reason"] == "Expired"
        assert await raw.next() is None

    async def drain() -> None:
        async with watch.Watch() as w:
            async for _ in w.stream(
                crs.list_namespaced_custom_object,
                GROUP,
                VERSION,
                "default",
                PLURAL,
                resource_version=old,
            ):
                pass

    with pytest.raises(ApiException) as caught:
        await drain()
    assert caught.value.status == 410


async def test_history_window_is_bounded() -> None:
    async with KubeEmulator(crd_paths=[TEST_CRD], history_limit=3) as kube:
        first = kube.apply(continuum("a")).object["metadata"]["resourceVersion"]
        for name in ("b", "c", "d", "e"):
            kube.apply(continuum(name))
        rt = kube.resource_type(GROUP, VERSION, PLURAL)
        expired = kube.store.watch(rt, resource_version=first)
        event = await expired.get()
        assert event is not None
        assert event["type"] == "ERROR"
        recent = kube.store.watch(rt, resource_version=str(kube.store.resource_version - 2))
        assert [(await recent.get() or {})["object"]["metadata"]["name"] for _ in range(2)] == [
            "d",
            "e",
        ]


async def test_watch_ends_cleanly_when_timeout_seconds_pass_on_the_emulator_clock() -> None:
    clock = FakeClock()
    async with KubeEmulator(crd_paths=[TEST_CRD], clock=clock) as kube:
        async for raw in _raw_watch(kube, "timeoutSeconds=30"):
            await _until(lambda: clock.pending >= 1)
            clock.advance(29)
            kube.apply(continuum("a"))
            event = await raw.next()
            assert event is not None
            assert event["type"] == "ADDED"
            clock.advance(1)
            assert await raw.next() is None


async def test_bookmarks_carry_the_current_resource_version() -> None:
    clock = FakeClock()
    async with KubeEmulator(crd_paths=[TEST_CRD], clock=clock, bookmark_interval=10) as kube:
        async for raw in _raw_watch(kube, "allowWatchBookmarks=true&resourceVersion=0"):
            await _until(lambda: clock.pending >= 2)
            kube.ensure_namespace("elsewhere")
            clock.advance(10)
            event = await raw.next()
            assert event is not None
            assert event["type"] == "BOOKMARK"
            assert event["object"]["kind"] == "Continuum"
            assert event["object"]["metadata"]["resourceVersion"] == str(
                kube.store.resource_version
            )
            assert kube.send_bookmarks() == 1
            again = await raw.next()
            assert again is not None
            assert again["type"] == "BOOKMARK"


async def test_label_selector_watch_sees_objects_enter_and_leave_the_selection(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    async for raw in _raw_watch(kube, "labelSelector=tier%3Dweb"):
        await create_cr(crs, continuum("a"))
        for labels in ({"tier": "web"}, {"tier": "web", "x": "1"}, {"tier": None}):
            await patch_cr(crs, "a", {"metadata": {"labels": labels}}, content_type=MERGE)
        types = [(await raw.next() or {})["type"] for _ in range(3)]
        assert types == ["ADDED", "MODIFIED", "DELETED"]


async def test_field_selector_watch_sees_only_the_named_object(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    async for raw in _raw_watch(kube, "fieldSelector=metadata.name%3Db"):
        for name in ("a", "b"):
            await create_cr(crs, continuum(name))
        event = await raw.next()
        assert event is not None
        assert event["object"]["metadata"]["name"] == "b"


async def test_killed_watch_breaks_the_client_stream(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    async for raw in _raw_watch(kube, ""):
        await _until(lambda: len(kube.store.watchers()) == 1)
        assert kube.kill_watches() == 1
        with pytest.raises(aiohttp.ClientPayloadError):
            await raw.next()
    await _until(lambda: not kube.store.watchers())


async def test_in_process_subscribers_and_watchers_see_commits(kube: KubeEmulator) -> None:
    seen: list[WatchEvent] = []
    unsubscribe = kube.store.subscribe(seen.append)
    watcher = kube.store.watch(kube.resource_type(GROUP, VERSION, PLURAL))
    kube.apply(continuum("a"))
    unsubscribe()
    kube.apply(continuum("b"))
    assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [("ADDED", "a")]
    first = await watcher.get()
    assert first is not None
    assert first["object"]["metadata"]["name"] == "a"
    kube.store.stop_watch(watcher)


@pytest.mark.parametrize("flag", ["true", "True", "1"])
async def test_every_spelling_of_watch_true_starts_a_watch(kube: KubeEmulator, flag: str) -> None:
    kube.apply(continuum("a"))
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{kube.url}{PATH}?watch={flag}&timeoutSeconds=5") as resp,
    ):
        line = await asyncio.wait_for(resp.content.readline(), 5)
        assert json.loads(line)["type"] == "ADDED"
