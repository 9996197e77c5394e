"""Webhook payloads built from the platforms' published samples, varied per call.

Shared by the benchmarks and the tests (which re-export them from `tests/factories.py` and
`tests/test_woo_support.py`). Plain Python and the standard library only, so a benchmark runs
without pytest or any other test-only package. The samples themselves are the JSON files in
`tests/fixtures/` (where they come from: the README there).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


@cache
def _sample_text(path: Path) -> str:
    return path.read_text()


def sample(platform: str, name: str) -> Any:
    """A fresh copy of one published sample (`tests/fixtures/<platform>/<name>.json`)."""
    # Parsing the cached text again is the copy: cheaper than deepcopy of a parsed sample.
    return json.loads(_sample_text(FIXTURES / platform / f"{name}.json"))
