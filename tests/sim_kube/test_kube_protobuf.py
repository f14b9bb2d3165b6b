"""Protobuf request bodies: kubectl's typed commands send built-in kinds as
``application/vnd.kubernetes.protobuf``; the emulator decodes them as a real API server does
and answers JSON (which kubectl accepts: it asks for protobuf *or* JSON)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from continuum_sim.kube import KubeEmulator
from continuum_sim.kube.protobuf import MAGIC, MEDIA_TYPE, ProtobufError, decode_object
from tests.sim_kube.kube_helpers import GROUP, KUBECTLS, PLURAL, Kubectl, continuum

pytestmark = pytest.mark.anyio

# --- a minimal encoder, to send what client-go would send --------------------------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _str(number: int, text: str) -> bytes:
    return _len(number, text.encode())


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _entry(number: int, key: str, value: bytes) -> bytes:
    return _len(number, _str(1, key) + _len(2, value))


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _str(1, api_version) + _str(2, kind)
    return MAGIC + _len(1, type_meta) + _len(2, raw) + _str(3, "") + _str(4, "")


def _meta(name: str, **extra: bytes) -> bytes:
    # As Go writes it: every non-pointer field, empty ones included.
    body = _str(1, name) + _str(2, "") + _str(3, "") + _str(4, "") + _str(5, "")
    body += _str(6, "") + _int(7, 0) + _len(8, b"")
    return body + b"".join(extra.values())


async def _post(kube: KubeEmulator, path: str, body: bytes, **headers: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{kube.url}{path}",
            data=body,
            headers={"Content-Type": MEDIA_TYPE, **headers},
        ) as response,
    ):
        assert response.content_type == "application/json"
        return response.status, await response.json()


# --- kubectl --------------------------------------------------------------------------------


@pytest.fixture(params=KUBECTLS, ids=KUBECTLS)
def binary(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.skipif(not KUBECTLS, reason="kubectl is not installed")
async def test_kubectl_create_namespace_secret_and_configmap_store_what_was_sent(
    kube: KubeEmulator, tmp_path: Path, binary: str
) -> None:
    kubectl = Kubectl(kube, tmp_path, binary=binary)
    (tmp_path / "blob").write_bytes(b"\x00\xffbinary")
    assert "namespace/x created" in await kubectl("create", "namespace", "x")
    await kubectl(
        "create", "secret", "generic", "s", "-n", "x",
        "--from-literal=user=admin", "--from-literal=empty=", "--type=kubernetes.io/basic-auth",
    )  # fmt: skip
    await kubectl(
        "create", "configmap", "cm", "-n", "x",
        "--from-literal=mode=fast", f"--from-file=blob={tmp_path / 'blob'}",
    )  # fmt: skip
    await kubectl(
        "create", "secret", "docker-registry", "pull", "-n", "x",
        "--docker-server=r.example", "--docker-username=u", "--docker-password=p",
    )  # fmt: skip
    namespace = kube.store.get("", "namespaces", "", "x")
    assert namespace is not None
    assert namespace["status"]["phase"] == "Active"
    secret = kube.store.get("", "secrets", "x", "s")
    assert secret is not None
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["data"] == {"user": base64.b64encode(b"admin").decode(), "empty": ""}
    configmap = kube.store.get("", "configmaps", "x", "cm")
    assert configmap is not None
    assert configmap["data"] == {"mode": "fast"}
    assert configmap["binaryData"] == {"blob": base64.b64encode(b"\x00\xffbinary").decode()}
    pull = kube.store.get("", "secrets", "x", "pull")
    assert pull is not None
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(pull["data"][".dockerconfigjson"]))
    assert config["auths"]["r.example"]["username"] == "u"
    assert "already exists" in await kubectl("create", "namespace", "x", ok=False)
    assert "secret/s" in await kubectl("get", "secrets", "-n", "x", "-o", "name")


@pytest.mark.skipif(not KUBECTLS, reason="kubectl is not installed")
async def test_kubectl_create_with_dry_run_server_and_labels_round_trips_metadata(
    kube: KubeEmulator, tmp_path: Path, binary: str
) -> None:
    kubectl = Kubectl(kube, tmp_path, binary=binary)
    out = await kubectl("create", "namespace", "dry", "--dry-run=server", "-o", "json")
    assert json.loads(out)["metadata"]["name"] == "dry"
    assert kube.store.get("", "namespaces", "", "dry") is None
    await kubectl("create", "configmap", "cm", "--from-literal=a=b")
    await kubectl("label", "configmap", "cm", "tier=web")
    stored = kube.store.get("", "configmaps", "default", "cm")
    assert stored is not None
    assert stored["metadata"]["labels"] == {"tier": "web"}


# --- the decoder over HTTP -------------------------------------------------------------------


async def test_a_protobuf_lease_is_decoded_with_pointer_fields_and_micro_times(
    kube: KubeEmulator,
) -> None:
    renew = _len(4, _int(1, 1_700_000_000) + _int(2, 123_456_000))
    spec = _str(1, "region-a") + _int(2, 30) + renew + _int(5, 0)
    labels = _entry(11, "app", b"shop")
    raw = _len(1, _meta("shop", labels=labels)) + _len(2, spec)
    status, body = await _post(
        kube,
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        _envelope("coordination.k8s.io/v1", "Lease", raw),
        Accept=f"{MEDIA_TYPE},application/json",
    )
    assert status == 201, body
    assert body["metadata"]["labels"] == {"app": "shop"}
    assert body["spec"] == {
        "holderIdentity": "region-a",
        "leaseDurationSeconds": 30,
        "renewTime": "2023-11-14T22:13:20.123456Z",
        "leaseTransitions": 0,
    }


async def test_protobuf_of_a_kind_the_decoder_does_not_know_is_415_naming_it(
    kube: KubeEmulator,
) -> None:
    status, body = await _post(
        kube, "/api/v1/namespaces/default/events", _envelope("v1", "Event", _len(1, _meta("e")))
    )
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"
    assert "Event" in body["message"]


async def test_protobuf_for_a_custom_resource_is_415_as_on_a_real_server(
    kube: KubeEmulator,
) -> None:
    status, body = await _post(
        kube,
        f"/apis/{GROUP}/v1/namespaces/default/{PLURAL}",
        _envelope(f"{GROUP}/v1", "Continuum", _len(1, _meta("x"))),
    )
    assert status == 415
    assert "application/json, application/yaml" in body["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind": "Namespace"}',  # JSON sent as protobuf: no magic
        MAGIC + b"\x0a\xff",  # truncated
        MAGIC + _len(1, _str(2, "Namespace")) + _len(2, b"\x0a\x05ab"),  # truncated inner
    ],
    ids=["no-magic", "truncated-envelope", "truncated-metadata"],
)
async def test_malformed_protobuf_is_400_and_stores_nothing(
    kube: KubeEmulator, body: bytes
) -> None:
    before = kube.store.resource_version
    status, answer = await _post(kube, "/api/v1/namespaces", body)
    assert status == 400
    assert answer["message"].startswith("error decoding request body: ")
    assert kube.store.resource_version == before


async def test_unknown_content_type_is_415_and_yaml_is_read(kube: KubeEmulator) -> None:
    status, body = await _post(
        kube, "/api/v1/namespaces", b"name=x", **{"Content-Type": "text/plain"}
    )
    assert status == 415
    status, body = await _post(
        kube,
        "/api/v1/namespaces",
        b"apiVersion: v1\nkind: Namespace\nmetadata: {name: from-yaml}\n",
        **{"Content-Type": "application/yaml"},
    )
    assert status == 201
    assert body["metadata"]["name"] == "from-yaml"


async def test_protobuf_delete_options_preconditions_are_honoured(kube: KubeEmulator) -> None:
    kube.apply(continuum("x"))
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})
    options = _envelope("meta.k8s.io/v1", "DeleteOptions", _len(2, _str(1, "not-the-uid")))
    async with (
        aiohttp.ClientSession() as session,
        session.delete(
            f"{kube.url}/api/v1/namespaces/default/configmaps/cm",
            data=options,
            headers={"Content-Type": MEDIA_TYPE},
        ) as response,
    ):
        assert response.status == 409
        assert "Precondition failed: UID" in (await response.json())["message"]
    assert kube.store.get("", "configmaps", "default", "cm") is not None


async def test_accept_protobuf_only_is_answered_with_json(kube: KubeEmulator) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{kube.url}/api/v1/namespaces/default", headers={"Accept": MEDIA_TYPE}
        ) as response,
    ):
        assert response.status == 200
        assert response.content_type == "application/json"
        assert (await response.json())["metadata"]["name"] == "default"


def test_decoder_keeps_go_pointer_zero_values_and_drops_empty_plain_ones() -> None:
    raw = _len(1, _meta("s")) + _int(5, 0) + _str(3, "")
    obj = decode_object(_envelope("v1", "Secret", raw))
    assert obj == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "immutable": False,
    }


def test_decoder_refuses_compressed_bodies() -> None:
    body = MAGIC + _len(1, _str(2, "Namespace")) + _len(2, b"") + _str(3, "gzip")
    with pytest.raises(ProtobufError, match="content encoding"):
        decode_object(body)
