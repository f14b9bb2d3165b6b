"""Where a CLI command reads, writes and waits: the process's stdio, or a test's."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO


@dataclass(kw_only=True)
class Terminal:
    """Where a command reads and writes, and how it waits (injected by tests)."""

    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    sleep: Callable[[float], None] | None = None
    monotonic: Callable[[], float] | None = None

    @classmethod
    def system(cls) -> Terminal:
        return cls(stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr)

    def out(self, text: str) -> None:
        """One line (or block) on stdout, flushed: progress must show while it happens."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()
