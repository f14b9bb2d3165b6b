"""The :class:`~continuum.ports.Resolver` port on aiodns (c-ares). asyncio only.

c-ares caches answers for their TTL and the cache cannot be disabled from Python, so every
query builds a new ``aiodns.DNSResolver`` and closes it afterwards: a probe right after a DNS
flip sees the server's current answer, never a cached one.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiodns
import aiodns.error
import pycares

from continuum.errors import ResolverUnavailable

_A = 1
# Answers that mean "the server answered, with no usable address": an empty probe, not an
# unavailable one. SERVFAIL counts: clients asking that server get no address either.
_EMPTY_ANSWER_CODES = frozenset(
    {
        pycares.errno.ARES_ENODATA,
        pycares.errno.ARES_ENOTFOUND,
        pycares.errno.ARES_ESERVFAIL,
    }
)


class AiodnsResolver:
    """Asks one nameserver (``ip`` or ``ip:port``) for A records, one fresh resolver per
    query, one try, bounded by ``timeout`` seconds of real time (this is network I/O)."""

    async def resolve_a(self, name: str, *, nameserver: str, timeout: float) -> list[str]:
        """The A addresses of ``name`` in answer order (``[]`` for NODATA, NXDOMAIN or
        SERVFAIL). Raises :class:`~continuum.errors.ResolverUnavailable` when the server
        does not answer within ``timeout``, refuses, or the query cannot be sent."""
        if timeout <= 0:
            raise ResolverUnavailable(f"{name}@{nameserver}: non-positive timeout")
        try:
            resolver = aiodns.DNSResolver(nameservers=[nameserver], timeout=timeout, tries=1)
        except (ValueError, aiodns.error.DNSError, pycares.AresError) as error:
            raise ResolverUnavailable(f"{name}@{nameserver}: bad nameserver: {error}") from error
        try:
            async with asyncio.timeout(timeout):
                result: Any = await resolver.query_dns(name, "A")
        except TimeoutError:
            raise ResolverUnavailable(
                f"{name}@{nameserver}: no answer within {timeout:g}s"
            ) from None
        except aiodns.error.DNSError as error:
            code = error.args[0] if error.args else None
            if code in _EMPTY_ANSWER_CODES:
                return []
            message = error.args[1] if len(error.args) > 1 else str(error)
            raise ResolverUnavailable(f"{name}@{nameserver}: {message}") from error
        finally:
            resolver.cancel()
            with contextlib.suppress(Exception):
                await resolver.close()
        return [str(record.data.addr) for record in result.answer if record.type == _A]
