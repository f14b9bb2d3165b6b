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
from typing import Any

from continuum.sim.kube.requestinfo import RequestInfo


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
    status: int = 500
    body: Any = None
    message: str = ""
    seconds: float = 0.0
    remaining: int | None = 1
    hits: int = 0

    def matches(self, method: str, info: RequestInfo) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return (
            (self.method is None or self.method.upper() == method.upper())
            and (self.path_regex is None or self.path_regex.search(info.path) is not None)
            and (self.verb is None or self.verb == info.verb)
            and (self.resource is None or self.resource == info.resource)
            and (self.namespace is None or self.namespace == info.namespace)
            and (self.name is None or self.name == info.name)
        )


class Faults:
    """The fault rules of one emulator."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._released = asyncio.Event()

    def _add(self, rule: FaultRule, path_regex: str | None) -> FaultRule:
        if path_regex is not None:
            rule.path_regex = re.compile(path_regex)
        self.rules.append(rule)
        return rule

    def fail(
        self,
        *,
        method: str | None = None,
        path_regex: str | None = None,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        status: int = 500,
        count: int | None = 1,
        body: Any = None,
        message: str = "injected fault",
    ) -> FaultRule:
        """Answer the next ``count`` matching requests with ``status`` and ``body`` (a
        ``Status`` object carrying ``message`` by default)."""
        rule = FaultRule(
            "fail",
            method=method,
            verb=verb,
            resource=resource,
            namespace=namespace,
            name=name,
            status=status,
            remaining=count,
            body=body,
            message=message,
        )
        return self._add(rule, path_regex)

    def delay(
        self,
        *,
        seconds: float,
        method: str | None = None,
        path_regex: str | None = None,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        count: int | None = None,
    ) -> FaultRule:
        """Hold matching requests ``seconds`` (emulator clock) before serving them."""
        rule = FaultRule(
            "delay",
            method=method,
            verb=verb,
            resource=resource,
            namespace=namespace,
            name=name,
            seconds=seconds,
            remaining=count,
        )
        return self._add(rule, path_regex)

    def hang(
        self,
        *,
        method: str | None = None,
        path_regex: str | None = None,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        count: int | None = 1,
    ) -> FaultRule:
        """Never answer matching requests (until :meth:`clear` or shutdown, which then
        answer 503): the client's own timeout must fire."""
        rule = FaultRule(
            "hang",
            method=method,
            verb=verb,
            resource=resource,
            namespace=namespace,
            name=name,
            remaining=count,
        )
        return self._add(rule, path_regex)

    def drop_connection(
        self,
        *,
        method: str | None = None,
        path_regex: str | None = None,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        count: int | None = 1,
    ) -> FaultRule:
        """Close the connection of matching requests without any response."""
        rule = FaultRule(
            "drop",
            method=method,
            verb=verb,
            resource=resource,
            namespace=namespace,
            name=name,
            remaining=count,
        )
        return self._add(rule, path_regex)

    def clear(self) -> None:
        """Remove every rule and release every hung request."""
        self.rules.clear()
        self._released.set()
        self._released = asyncio.Event()

    def take(self, method: str, info: RequestInfo) -> FaultRule | None:
        """The first rule matching this request, its count consumed; ``None`` if none."""
        for rule in self.rules:
            if rule.matches(method, info):
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.hits += 1
                return rule
        return None

    async def wait_released(self) -> None:
        """Return when :meth:`clear` is called (hung requests wait here)."""
        await self._released.wait()
