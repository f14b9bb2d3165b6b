"""``cloudflare-kv``: the HTTP client of the lease-witness Worker (lease-witness.md §8.2).

Every request carries ``Authorization: Bearer <token>`` and ``X-Lease-Slot: <slot>``; the path
is ``/lease/<slot with "/" as %2F>``. The Worker is authoritative (one clock decides expiry):
``renew``, ``handover`` and ``release`` send the caller's generation as ``If-Match`` and let
the server decide with its own clock, instead of pre-checking expiry on the controller's clock.

It is a cross-region witness only when the Worker's compare-and-set is atomic — a Durable
Object (or D1 transaction) behind the same HTTP contract; plain Workers KV is
eventually consistent and can let two writers win.

Status mapping: 401/403 → ``WitnessUnavailable("auth rejected")``; any other unexpected status,
a malformed body or a transport failure → ``WitnessUnavailable``. Never "held by another" and
never "free" for those.
"""

from __future__ import annotations

from urllib.parse import quote

import anyio.lowlevel
import httpx
import msgspec

from continuum import write_gate
from continuum.errors import LeaseHeldByAnother, LeaseLost, WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.ports import Clock
from continuum.witness.codec import WorkerState, lease_from_worker

__all__ = ["CloudflareKvWitness"]

_ACQUIRE_ATTEMPTS = 3
_state_decoder = msgspec.json.Decoder(WorkerState)


class CloudflareKvWitness:
    """A Witness client of one Worker (see module docs). ``clock`` is only used for nothing
    that decides expiry: the Worker stamps and decides with its own clock."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        clock: Clock,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("cloudflare-kv needs baseURL")
        if not token:
            raise ValueError("cloudflare-kv needs an API token")
        self._clock = clock
        self._token = token
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    # --- the contract ----------------------------------------------------------------------

    async def read(self, key: str) -> Lease:
        await anyio.lowlevel.checkpoint()
        response = await self._send("GET", key, headers={"Accept": "application/json"})
        if response.status_code == 404:
            return Lease(key=key)
        if response.is_success:
            return self._lease(key, response)
        raise self._unexpected("read", key, response)

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease:
        await anyio.lowlevel.checkpoint()
        seen = await self.read(key)
        for _ in range(_ACQUIRE_ATTEMPTS):
            response = await self._put(
                key, generation=seen.generation, holder=holder, ttl=ttl, op="acquire"
            )
            if response.status_code in (200, 201):
                return self._lease(key, response, ttl=ttl)
            if response.status_code != 412:
                raise self._unexpected("acquire", key, response)
            seen = self._lease(key, response) if response.content else Lease(key=key)
            if seen.holder and seen.holder != holder:
                raise LeaseHeldByAnother(key, seen.holder, seen.expires_at)
            # Lost a race with a release or an expiry: retry on the generation just returned.
        if seen.holder:
            raise LeaseHeldByAnother(key, seen.holder, seen.expires_at)
        raise WitnessUnavailable(f"cloudflare-kv {key!r}: compare-and-set kept losing")

    async def renew(self, lease: Lease) -> Lease:
        await anyio.lowlevel.checkpoint()
        if not lease.holder:
            raise LeaseLost(f"lease {lease.key!r}: nothing to renew")
        response = await self._put(
            lease.key,
            generation=lease.generation,
            holder=lease.holder,
            ttl=lease.ttl_seconds,
            op="renew",
        )
        if response.status_code in (200, 201):
            return self._lease(lease.key, response, ttl=lease.ttl_seconds)
        if response.status_code == 412:
            raise LeaseLost(
                f"lease {lease.key!r} generation {lease.generation} is no longer current"
            )
        raise self._unexpected("renew", lease.key, response)

    async def handover(self, lease: Lease, to_holder: str, ttl: float) -> Lease:
        await anyio.lowlevel.checkpoint()
        if not lease.holder:
            raise LeaseLost(f"lease {lease.key!r}: nothing to hand over")
        op = "renew" if to_holder == lease.holder else "handover"
        response = await self._put(
            lease.key,
            generation=lease.generation,
            holder=to_holder,
            ttl=ttl,
            op=op,
            from_holder=lease.holder,
        )
        if response.status_code in (200, 201):
            return self._lease(lease.key, response, ttl=ttl)
        if response.status_code == 412:
            raise LeaseLost(
                f"cannot hand over {lease.key!r}: generation {lease.generation} is gone"
            )
        raise self._unexpected("handover", lease.key, response)

    async def release(self, lease: Lease) -> None:
        await anyio.lowlevel.checkpoint()
        if not lease.holder:
            return
        response = await self._send(
            "DELETE",
            lease.key,
            headers={"If-Match": str(lease.generation), "X-Holder": lease.holder},
        )
        if response.status_code in (200, 204, 412):
            return
        raise self._unexpected("release", lease.key, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- wire ------------------------------------------------------------------------------

    async def _put(
        self,
        key: str,
        *,
        generation: int,
        holder: str,
        ttl: float,
        op: str,
        from_holder: str | None = None,
    ) -> httpx.Response:
        write_gate.check(lambda why: WitnessUnavailable(f"lease {key} not written: {why}"))
        body: dict[str, object] = {
            "holder": holder,
            "ttlSeconds": int(ttl) if float(ttl).is_integer() else ttl,
            "op": op,
        }
        if op == "handover":
            body["fromHolder"] = from_holder
        return await self._send(
            "PUT",
            key,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "If-Match": str(generation),
            },
            content=msgspec.json.encode(body),
        )

    async def _send(
        self,
        method: str,
        key: str,
        *,
        headers: dict[str, str],
        content: bytes | None = None,
    ) -> httpx.Response:
        headers = {
            **headers,
            "Authorization": f"Bearer {self._token}",
            "X-Lease-Slot": key,
        }
        try:
            return await self._http.request(
                method, "/lease/" + quote(key, safe=""), headers=headers, content=content
            )
        except httpx.HTTPError as error:
            raise WitnessUnavailable(f"cloudflare-kv {method} {key!r}: {error!r}") from error

    def _lease(self, key: str, response: httpx.Response, *, ttl: float | None = None) -> Lease:
        try:
            state = _state_decoder.decode(response.content)
            lease = lease_from_worker(key, state)
        except (msgspec.DecodeError, ValueError) as error:
            raise WitnessUnavailable(f"cloudflare-kv {key!r}: malformed state: {error}") from error
        if ttl is not None and not state.ttlSeconds:
            lease = msgspec.structs.replace(lease, ttl_seconds=ttl)
        return lease

    @staticmethod
    def _unexpected(op: str, key: str, response: httpx.Response) -> WitnessUnavailable:
        if response.status_code in (401, 403):
            return WitnessUnavailable(
                f"cloudflare-kv {op} {key!r}: auth rejected (status {response.status_code})"
            )
        snippet = response.text[:256]
        return WitnessUnavailable(
            f"cloudflare-kv {op} {key!r}: unexpected status {response.status_code}: {snippet}"
        )
