"""A controller that serves no API never loads the API stack (memory and start time)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_controller_loads_neither_litestar_nor_uvicorn() -> None:
    code = (
        "import sys, continuum.controller, continuum.http;"
        "print(sorted(m for m in ('litestar', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_the_package_still_exports_the_api_on_first_use() -> None:
    from continuum import http

    assert callable(http.create_app)
    assert http.Readiness.__name__ == "Readiness"
