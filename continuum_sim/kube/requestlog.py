"""The request log: one record per request the emulator answered, for assertions such as
"this dry run made zero writes" or "these are the RBAC rules the controller needs"."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One request, parsed the way the API server's RequestInfo does."""

    method: str
    path: str
    verb: str
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    status: int = 0
    dry_run: bool = False
    """``?dryRun=All``: validated and authorised like a write, never stored."""

    @property
    def is_write(self) -> bool:
        """Whether the request may change stored state (a dry run never does)."""
        return self.method not in READ_METHODS and not self.dry_run

    @property
    def rbac(self) -> tuple[str, str, str]:
        """``(verb, group, resource[/subresource])`` as an RBAC rule names it."""
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return (self.verb, self.group, resource)


class RequestLog:
    """Append-only (until :meth:`clear`) list of :class:`RequestRecord`."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> int:
        """Add ``record``; returns its index (for :meth:`set_status`)."""
        self._records.append(record)
        return len(self._records) - 1

    def set_status(self, index: int, status: int) -> None:
        """Record the answer's status code once it is known."""
        if 0 <= index < len(self._records):
            self._records[index] = msgspec.structs.replace(self._records[index], status=status)

    def clear(self) -> None:
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(list(self._records))

    def __getitem__(self, index: int) -> RequestRecord:
        return self._records[index]

    def writes(self) -> list[RequestRecord]:
        """Every request that may change stored state (POST, PUT, PATCH, DELETE without
        ``dryRun=All``), answered or not."""
        return [r for r in self._records if r.is_write]

    def rbac(self) -> set[tuple[str, str, str]]:
        """The distinct ``(verb, group, resource)`` tuples of resource requests."""
        return {r.rbac for r in self._records if r.resource}

    def matching(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        method: str | None = None,
        name: str | None = None,
    ) -> list[RequestRecord]:
        """Records matching every given filter."""
        return [
            r
            for r in self._records
            if (verb is None or r.verb == verb)
            and (resource is None or r.resource == resource)
            and (method is None or r.method == method)
            and (name is None or r.name == name)
        ]
