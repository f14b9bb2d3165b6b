"""The CLI's side of the controller API: a small synchronous httpx client, and the loops that
follow a switchover and wait for its health report.

Every request carries ``X-Catalyst-Owner-Tier: true`` and, when a token is given,
``Authorization: Bearer <token>``. Replies are decoded with msgspec into the shapes of
``continuum.messages``; the raw body is kept for ``--json``. Every failure is an
:class:`ApiRequestError` (``status`` 0 when the server could not be reached or answered something
that is not the contract); nothing else escapes these calls. The token never appears in an
error message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from continuum.messages.requests import (
    ContinuumSummary,
    RefusalDetail,
    SwitchoverAccepted,
)
from continuum.messages.status import SWITCHOVER_STEPS, LastSwitchover, SwitchoverJournal
from continuum.messages.switchover import DryRunReport, HealthReport

T = TypeVar("T")

DEFAULT_API_URL: Final = "http://127.0.0.1:8082"
OWNER_TIER_HEADER: Final = "X-Catalyst-Owner-Tier"
#: Statuses worth retrying while following a switchover (leader change, actor restart, a
#: replica briefly unreachable); ``0`` is "no answer at all".
TRANSIENT_STATUSES: Final = frozenset({0, 502, 503, 504})


class ApiRequestError(Exception):
    """The API refused or failed a request. ``status`` is the HTTP status (0: unreachable or
    an answer outside the contract); ``error`` the one-line message of the ``{"error",
    "detail"}`` body; ``body`` the raw bytes (empty when there was no answer)."""

    def __init__(self, status: int, error: str, *, detail: Any = None, body: bytes = b"") -> None:
        super().__init__(f"HTTP {status}: {error}" if status else error)
        self.status = status
        self.error = error
        self.detail = detail
        self.body = body


class Refused(ApiRequestError):
    """A 409: the switchover (or DryRun) was refused. ``refusal`` carries why and the
    current DryRun report when the server sent one."""

    def __init__(
        self, error: str, *, refusal: RefusalDetail | None, detail: Any, body: bytes
    ) -> None:
        super().__init__(409, error, detail=detail, body=body)
        self.refusal = refusal


@dataclass(frozen=True)
class Reply(Generic[T]):
    """A decoded answer and the exact bytes it was decoded from."""

    value: T
    body: bytes


def _error_of(response: httpx.Response) -> ApiRequestError:
    body = response.content
    error = response.reason_phrase or "error"
    detail: Any = None
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        error = decoded["error"]
        detail = decoded.get("detail")
    elif body:
        error = f"{error}: {body[:200].decode('utf-8', 'replace').strip()}"
    if response.status_code == 409:
        refusal: RefusalDetail | None = None
        if isinstance(detail, dict):
            try:
                refusal = msgspec.convert(detail, RefusalDetail)
            except msgspec.ValidationError:
                refusal = None
        return Refused(error, refusal=refusal, detail=detail, body=body)
    return ApiRequestError(response.status_code, error, detail=detail, body=body)


class ApiClient:
    """A client of one controller API at ``base_url``. Use as a context manager (or call
    :meth:`close`). ``timeout`` bounds each request in seconds. Like curl, it honours the
    environment's proxy and CA settings (``HTTPS_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE``).
    ``transport`` replaces httpx's own (tests)."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {OWNER_TIER_HEADER: "true", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            transport=transport,
        )
        self.base_url = base_url

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None
    ) -> bytes:
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.TimeoutException:
            raise ApiRequestError(0, f"no answer from {self.base_url} in time") from None
        except httpx.HTTPError as err:
            raise ApiRequestError(0, f"cannot reach {self.base_url}: {err}") from None
        if response.status_code >= 400:
            raise _error_of(response)
        return response.content

    def _decode(self, body: bytes, shape: type[T]) -> Reply[T]:
        try:
            return Reply(msgspec.json.decode(body, type=shape), body)
        except msgspec.DecodeError as err:
            raise ApiRequestError(
                0, f"unexpected answer from {self.base_url}: {err}", body=body
            ) from None

    def list_continuums(self) -> Reply[list[ContinuumSummary]]:
        """``GET /v1/continuums``: every Continuum of the region (with sharding, the
        server's replica gathers its peers' lists)."""
        return self._decode(self._request("GET", "/v1/continuums"), list[ContinuumSummary])

    def get_continuum(self, ns: str, name: str) -> Reply[ContinuumSummary]:
        """``GET /v1/continuums/{ns}/{name}``: the status summary of one Continuum."""
        return self._decode(self._request("GET", _cr_path(ns, name)), ContinuumSummary)

    def dry_run(
        self, ns: str, name: str, *, to_region: str, reason: str = ""
    ) -> Reply[DryRunReport]:
        """``POST …/dry-run``: preview a switchover to ``to_region`` (read-only)."""
        body: dict[str, str] = {"toRegion": to_region}
        if reason:
            body["reason"] = reason
        raw = self._request("POST", _cr_path(ns, name, "dry-run"), json=body)
        return self._decode(raw, DryRunReport)

    def health(self, ns: str, name: str, *, fresh: bool = False) -> Reply[HealthReport]:
        """``GET …/health``: the latest post-switchover HealthReport (recomputed if
        ``fresh``)."""
        params = {"fresh": "true"} if fresh else None
        raw = self._request("GET", _cr_path(ns, name, "health"), params=params)
        return self._decode(raw, HealthReport)

    def switchover(
        self, ns: str, name: str, *, to_region: str, fingerprint: str, reason: str = ""
    ) -> Reply[SwitchoverAccepted]:
        """``POST …/switchover``: start the switchover the DryRun with ``fingerprint``
        previewed. Raises :class:`Refused` on 409 (fingerprint changed, blockers, one already
        running)."""
        body: dict[str, str] = {"toRegion": to_region, "fingerprint": fingerprint}
        if reason:
            body["reason"] = reason
        raw = self._request("POST", _cr_path(ns, name, "switchover"), json=body)
        return self._decode(raw, SwitchoverAccepted)


def _cr_path(ns: str, name: str, verb: str = "") -> str:
    path = f"/v1/continuums/{quote(ns, safe='')}/{quote(name, safe='')}"
    return f"{path}/{verb}" if verb else path


# --- following a switchover -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Timing:
    """How the follow loops wait: injected so tests run them without real sleeps."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True, kw_only=True)
class StepSeen:
    """One progress line: step ``index``/7 ``step`` entered ``state`` (``running``,
    ``compensating``)."""

    index: int
    step: str
    state: str


class FollowTimeout(Exception):
    """The switchover did not finish (or its health did not land) within the wait."""


@dataclass(kw_only=True)
class SwitchoverFollower:
    """Polls ``GET /v1/continuums/{ns}/{name}`` until switchover ``switchover_id`` is finished,
    calling ``on_step`` once per step (and compensation) it sees, in journal order — steps
    completed between two polls are reported too, so the lines do not depend on timing.

    Transient failures (unreachable, 502/503/504: a leader change or an actor restart) are
    reported to ``on_retry`` and retried until the deadline; other API errors raise.
    """

    client: ApiClient
    ns: str
    name: str
    switchover_id: str
    on_step: Callable[[StepSeen], None]
    on_retry: Callable[[ApiRequestError], None] = lambda _err: None
    poll_interval: float = 1.0
    timing: Timing = field(default_factory=Timing)
    _announced: set[tuple[str, str]] = field(default_factory=set)

    def _poll(self, deadline: float) -> ContinuumSummary:
        while True:
            try:
                return self.client.get_continuum(self.ns, self.name).value
            except ApiRequestError as err:
                if err.status not in TRANSIENT_STATUSES:
                    raise
                if self.timing.monotonic() >= deadline:
                    raise FollowTimeout(f"gave up polling: {err.error}") from None
                self.on_retry(err)
                self.timing.sleep(self.poll_interval)

    def _announce(self, step: str, state: str) -> None:
        if (step, state) in self._announced:
            return
        self._announced.add((step, state))
        self.on_step(StepSeen(index=_step_index(step), step=step, state=state))

    def _observe_journal(self, journal: SwitchoverJournal) -> None:
        for step in journal.completed_steps:
            self._announce(step, "running")
        if journal.state == "compensating":
            for step in journal.compensated_steps:
                self._announce(step, "compensating")
        self._announce(
            journal.step, "compensating" if journal.state == "compensating" else "running"
        )

    def _observe_result(self, last: LastSwitchover) -> None:
        for step in last.completed_steps:
            self._announce(step, "running")
        if last.failed_at_step is not None:
            self._announce(last.failed_at_step, "running")
        for step in last.compensated_steps:
            self._announce(step, "compensating")

    def follow(self, *, wait_seconds: float) -> LastSwitchover:
        """Follow until the switchover's ``lastSwitchover`` appears; raises
        :class:`FollowTimeout` after ``wait_seconds``, :class:`ApiRequestError` on a non-transient
        failure."""
        deadline = self.timing.monotonic() + wait_seconds
        while True:
            summary = self._poll(deadline)
            journal = summary.switchover
            if journal is not None and journal.id == self.switchover_id:
                self._observe_journal(journal)
            last = summary.lastSwitchover
            if last is not None and last.id == self.switchover_id:
                self._observe_result(last)
                return last
            if self.timing.monotonic() >= deadline:
                raise FollowTimeout(
                    f"switchover {self.switchover_id} still running after {wait_seconds:g}s"
                )
            self.timing.sleep(self.poll_interval)

    def wait_for_health(self, *, wait_seconds: float) -> Reply[HealthReport]:
        """Wait until ``lastHealth`` belongs to this switchover, then fetch the HealthReport.
        Raises :class:`FollowTimeout` after ``wait_seconds``."""
        deadline = self.timing.monotonic() + wait_seconds
        while True:
            health = self._poll(deadline).lastHealth
            if health is not None and health.switchover_id == self.switchover_id:
                return self.client.health(self.ns, self.name)
            if self.timing.monotonic() >= deadline:
                raise FollowTimeout(
                    f"no health report for switchover {self.switchover_id} after {wait_seconds:g}s"
                )
            self.timing.sleep(self.poll_interval)


_STEP_INDEX: Final[dict[str, int]] = {step: i for i, step in enumerate(SWITCHOVER_STEPS, 1)}


def _step_index(step: str) -> int:
    return _STEP_INDEX.get(step, 0)
