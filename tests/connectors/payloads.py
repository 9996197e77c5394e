"""Published sample payloads (tests/fixtures), read without the app."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures"


@cache
def _load(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


def woo(name: str) -> Any:
    return copy.deepcopy(_load(f"woocommerce/{name}.json"))


def shopify_graphql(name: str) -> Any:
    return copy.deepcopy(_load(f"shopify/graphql/{name}.json"))
