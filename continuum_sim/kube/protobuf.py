"""Request bodies in ``application/vnd.kubernetes.protobuf``, decoded into the JSON shape.

kubectl's typed commands (``create namespace``, ``create secret``, ``create configmap``) and
client-go's typed clients send built-in objects as protobuf, and a real API server accepts
them (kubectl does not fall back to JSON on a 415). The envelope is the 4-byte magic
``k8s\\x00`` followed by a ``runtime.Unknown`` message (``typeMeta``, ``raw``,
``contentEncoding``, ``contentType``); ``raw`` holds the object itself.

This is a small wire-format decoder for exactly the kinds it declares (:data:`KINDS`):
Namespace, Secret, ConfigMap, Lease and DeleteOptions, with the fields of the
``k8s.io/api`` and ``apimachinery`` ``generated.proto`` files. The result is what the same
object looks like in JSON, so everything downstream is shared with JSON requests:

- Go's encoder writes every non-pointer field even when empty; empty strings, zero
  integers, zero timestamps and empty messages/maps/lists are dropped (JSON ``omitempty``).
  Pointer fields (``immutable``, ``leaseDurationSeconds``, ...) are kept when present.
- ``bytes`` fields (Secret ``data``, ConfigMap ``binaryData``) become base64 strings.
- Timestamps become RFC 3339 (``MicroTime`` with microseconds).
- Unknown field numbers are skipped, as protobuf readers do.

Never guesses: a kind it does not know is :class:`UnsupportedKind` (the server answers 415);
a malformed message is :class:`ProtobufError` (400).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf envelope or message."""


class UnsupportedKind(ValueError):
    """The envelope names a kind this decoder does not declare."""


@dataclass(frozen=True)
class Field:
    """One message field: its JSON name and how its value is read.

    ``kind`` is one of ``string``, ``bytes``, ``int``, ``bool``, ``message``, ``time``,
    ``microtime``, ``map_string``, ``map_bytes``; ``repeated`` makes a list; ``pointer``
    keeps a zero value (Go ``*T``) instead of dropping it."""

    name: str
    kind: str
    message: str = ""
    repeated: bool = False
    pointer: bool = False


_MESSAGES: dict[str, dict[int, Field]] = {
    "ObjectMeta": {
        1: Field("name", "string"),
        2: Field("generateName", "string"),
        3: Field("namespace", "string"),
        4: Field("selfLink", "string"),
        5: Field("uid", "string"),
        6: Field("resourceVersion", "string"),
        7: Field("generation", "int"),
        8: Field("creationTimestamp", "time"),
        9: Field("deletionTimestamp", "time"),
        10: Field("deletionGracePeriodSeconds", "int", pointer=True),
        11: Field("labels", "map_string"),
        12: Field("annotations", "map_string"),
        13: Field("ownerReferences", "message", "OwnerReference", repeated=True),
        14: Field("finalizers", "string", repeated=True),
    },
    "OwnerReference": {
        1: Field("kind", "string"),
        3: Field("name", "string"),
        4: Field("uid", "string"),
        5: Field("apiVersion", "string"),
        6: Field("controller", "bool", pointer=True),
        7: Field("blockOwnerDeletion", "bool", pointer=True),
    },
    "Namespace": {
        1: Field("metadata", "message", "ObjectMeta"),
        2: Field("spec", "message", "NamespaceSpec"),
        3: Field("status", "message", "NamespaceStatus"),
    },
    "NamespaceSpec": {1: Field("finalizers", "string", repeated=True)},
    "NamespaceStatus": {1: Field("phase", "string")},
    "Secret": {
        1: Field("metadata", "message", "ObjectMeta"),
        2: Field("data", "map_bytes"),
        3: Field("type", "string"),
        4: Field("stringData", "map_string"),
        5: Field("immutable", "bool", pointer=True),
    },
    "ConfigMap": {
        1: Field("metadata", "message", "ObjectMeta"),
        2: Field("data", "map_string"),
        3: Field("binaryData", "map_bytes"),
        4: Field("immutable", "bool", pointer=True),
    },
    "Lease": {
        1: Field("metadata", "message", "ObjectMeta"),
        2: Field("spec", "message", "LeaseSpec"),
    },
    "LeaseSpec": {
        1: Field("holderIdentity", "string", pointer=True),
        2: Field("leaseDurationSeconds", "int", pointer=True),
        3: Field("acquireTime", "microtime"),
        4: Field("renewTime", "microtime"),
        5: Field("leaseTransitions", "int", pointer=True),
        6: Field("strategy", "string", pointer=True),
        7: Field("preferredHolder", "string", pointer=True),
    },
    "DeleteOptions": {
        1: Field("gracePeriodSeconds", "int", pointer=True),
        2: Field("preconditions", "message", "Preconditions"),
        3: Field("orphanDependents", "bool", pointer=True),
        4: Field("propagationPolicy", "string", pointer=True),
        5: Field("dryRun", "string", repeated=True),
    },
    "Preconditions": {
        1: Field("uid", "string", pointer=True),
        2: Field("resourceVersion", "string", pointer=True),
    },
}

KINDS: frozenset[str] = frozenset({"Namespace", "Secret", "ConfigMap", "Lease", "DeleteOptions"})
"""The top-level kinds whose protobuf bodies are decoded."""

_UNKNOWN: dict[int, Field] = {
    1: Field("typeMeta", "message", "TypeMeta"),
    2: Field("raw", "bytes"),
    3: Field("contentEncoding", "string"),
    4: Field("contentType", "string"),
}
_TYPE_META: dict[int, Field] = {1: Field("apiVersion", "string"), 2: Field("kind", "string")}

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise ProtobufError("varint longer than 64 bits")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """``(number, wire type, value)`` for every field; LEN values are bytes."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        value: Any
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _LEN:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ProtobufError("truncated length-delimited field")
            value, pos = data[pos : pos + size], pos + size
        elif wire in (_I64, _I32):
            width = 8 if wire == _I64 else 4
            if pos + width > len(data):
                raise ProtobufError("truncated fixed-width field")
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    """A varint as Go's int32/int64 (two's complement over 64 bits)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(raw: Any, name: str) -> str:
    if not isinstance(raw, bytes):
        raise ProtobufError(f"{name}: expected a length-delimited string")
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"{name}: invalid UTF-8") from exc


def _timestamp(raw: Any, name: str, *, micro: bool) -> str | None:
    if not isinstance(raw, bytes):
        raise ProtobufError(f"{name}: expected a message")
    seconds = nanos = 0
    for number, _, value in _fields(raw):
        if number == 1:
            seconds = _signed(value)
        elif number == 2:
            nanos = _signed(value)
    if seconds == 0 and nanos == 0:
        return None
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=nanos // 1000)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _map_entry(raw: Any, name: str, *, binary: bool) -> tuple[str, str]:
    if not isinstance(raw, bytes):
        raise ProtobufError(f"{name}: expected a map entry")
    key, value = "", ""
    for number, _, item in _fields(raw):
        if number == 1:
            key = _text(item, name)
        elif number == 2:
            if not isinstance(item, bytes):
                raise ProtobufError(f"{name}: expected a length-delimited value")
            value = base64.b64encode(item).decode() if binary else _text(item, name)
    return key, value


def _value(spec: Field, wire: int, raw: Any) -> Any:
    if spec.kind in ("string", "bytes"):
        if spec.kind == "bytes":
            if not isinstance(raw, bytes):
                raise ProtobufError(f"{spec.name}: expected bytes")
            return raw
        return _text(raw, spec.name)
    if spec.kind in ("int", "bool"):
        if wire != _VARINT:
            raise ProtobufError(f"{spec.name}: expected a varint")
        return bool(raw) if spec.kind == "bool" else _signed(raw)
    if spec.kind in ("time", "microtime"):
        return _timestamp(raw, spec.name, micro=spec.kind == "microtime")
    if not isinstance(raw, bytes):
        raise ProtobufError(f"{spec.name}: expected a message")
    return _message(spec.message, raw)


def _empty(value: Any) -> bool:
    return value is None or value in ("", 0, False) or value == {} or value == []


def _message(name: str, data: bytes) -> dict[str, Any]:
    """Decode one message of type ``name`` into its JSON object."""
    specs = _MESSAGES[name]
    out: dict[str, Any] = {}
    for number, wire, raw in _fields(data):
        spec = specs.get(number)
        if spec is None:
            continue
        if spec.kind in ("map_string", "map_bytes"):
            key, value = _map_entry(raw, spec.name, binary=spec.kind == "map_bytes")
            out.setdefault(spec.name, {})[key] = value
            continue
        value = _value(spec, wire, raw)
        if spec.repeated:
            out.setdefault(spec.name, []).append(value)
        elif value is not None and (spec.pointer or not _empty(value)):
            out[spec.name] = value
        else:
            out.pop(spec.name, None)
    return out


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object: ``apiVersion`` and ``kind`` from the
    envelope, then the decoded fields.

    Raises :class:`ProtobufError` for a missing magic, a malformed envelope or message, or
    a compressed body; :class:`UnsupportedKind` for a kind outside :data:`KINDS`."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    envelope: dict[str, Any] = {}
    for number, wire, raw in _fields(body[len(MAGIC) :]):
        spec = _UNKNOWN.get(number)
        if spec is None:
            continue
        if spec.message == "TypeMeta":
            if not isinstance(raw, bytes):
                raise ProtobufError("typeMeta: expected a message")
            envelope["typeMeta"] = {
                _TYPE_META[n].name: _text(v, _TYPE_META[n].name)
                for n, _, v in _fields(raw)
                if n in _TYPE_META
            }
        else:
            envelope[spec.name] = _value(spec, wire, raw)
    if envelope.get("contentEncoding"):
        raise ProtobufError(f"unsupported content encoding {envelope['contentEncoding']!r}")
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise UnsupportedKind(kind or "<none>")
    obj: dict[str, Any] = {}
    if type_meta.get("apiVersion"):
        obj["apiVersion"] = type_meta["apiVersion"]
    obj["kind"] = kind
    obj.update(_message(kind, envelope.get("raw", b"")))
    return obj
