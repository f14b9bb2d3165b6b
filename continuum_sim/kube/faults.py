"""Fault injection: make matching requests fail, wait, hang or lose their connection.

A rule matches on any combination of HTTP method, a regular expression searched in the
path, and the parsed verb / resource / namespace / name. Rules are tried in the order they
were added; a rule with a ``count`` stops matching once it has fired that many times
(``count=None`` fires forever). Delays run on the emulator's clock.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from continuum_sim.kube.requestinfo import RequestInfo


@dataclass
class FaultRule:
    """One injected fault. ``hits`` counts how often it fired."""

    action: str  # "fail", "delay", "hang", "drop"
    method: str | None = None
    path_regex: re.Pattern[str] | None = None
    verb: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    dry_run: bool | None = None
    status: int = 500
    body: Any = None
    message: str = ""
    seconds: float = 0.0
    remaining: int | None = 1
    hits: int = 0

    def matches(self, method: str, info: RequestInfo, *, dry_run: bool = False) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return (
            (self.dry_run is None or self.dry_run == dry_run)
            and (self.method is None or self.method.upper() == method.upper())
            and (self.path_regex is None or self.path_regex.search(info.path) is not None)
            and (self.verb is None or self.verb == info.verb)
            and (self.resource is None or self.resource == info.resource)
            and (self.namespace is None or self.namespace == info.namespace)
            and (self.name is None or self.name == info.name)
        )


class RequestMatch(TypedDict, total=False):
    """Which requests a rule matches; every field given must match (omitted = any)."""

    method: str | None
    path_regex: str | None  # searched in the path
    verb: str | None
    resource: str | None
    namespace: str | None
    name: str | None
    dry_run: bool | None  # True: only ``?dryRun=All`` requests; False: only real ones


class Faults:
    """The fault rules of one emulator. Each adding method takes :class:`RequestMatch`
    keywords and returns the rule it added."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._released = asyncio.Event()

    def _add(self, rule: FaultRule, match: RequestMatch) -> FaultRule:
        path_regex = match.get("path_regex")
        rule.method = match.get("method")
        rule.path_regex = re.compile(path_regex) if path_regex is not None else None
        rule.verb = match.get("verb")
        rule.resource = match.get("resource")
        rule.namespace = match.get("namespace")
        rule.name = match.get("name")
        rule.dry_run = match.get("dry_run")
        self.rules.append(rule)
        return rule

    def fail(
        self,
        *,
        status: int = 500,
        count: int | None = 1,
        body: Any = None,
        message: str = "injected fault",
        **match: Unpack[RequestMatch],
    ) -> FaultRule:
        """Answer the next ``count`` matching requests with ``status`` and ``body`` (a
        ``Status`` object carrying ``message`` by default)."""
        rule = FaultRule("fail", status=status, remaining=count, body=body, message=message)
        return self._add(rule, match)

    def delay(
        self, *, seconds: float, count: int | None = None, **match: Unpack[RequestMatch]
    ) -> FaultRule:
        """Hold matching requests ``seconds`` (emulator clock) before serving them."""
        return self._add(FaultRule("delay", seconds=seconds, remaining=count), match)

    def hang(self, *, count: int | None = 1, **match: Unpack[RequestMatch]) -> FaultRule:
        """Never answer matching requests (until :meth:`clear` or shutdown, which then
        answer 503): the client's own timeout must fire."""
        return self._add(FaultRule("hang", remaining=count), match)

    def drop_connection(self, *, count: int | None = 1, **match: Unpack[RequestMatch]) -> FaultRule:
        """Close the connection of matching requests without any response."""
        return self._add(FaultRule("drop", remaining=count), match)

    def clear(self) -> None:
        """Remove every rule and release every hung request."""
        self.rules.clear()
        self._released.set()
        self._released = asyncio.Event()

    def take(self, method: str, info: RequestInfo, *, dry_run: bool = False) -> FaultRule | None:
        """The first rule matching this request, its count consumed; ``None`` if none."""
        for rule in self.rules:
            if rule.matches(method, info, dry_run=dry_run):
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.hits += 1
                return rule
        return None

    async def wait_released(self) -> None:
        """Return when :meth:`clear` is called (hung requests wait here)."""
        await self._released.wait()
