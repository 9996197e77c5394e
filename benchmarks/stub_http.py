"""Answer a benchmark's outbound HTTP calls locally, with `requests` alone.

The benchmarks must run without test-only packages (`responses` is one), yet a backfill
benchmark needs Shopify's Bulk API answered like Shopify. `stubbed(routes)` replaces the
transport of every `requests` session (`HTTPAdapter.send`, the one place all calls pass) for
the duration of a `with` block: a call to a routed (method, URL) gets the route's answer, any
other call raises `ConnectionError`, so nothing leaves the machine.

A route's callback takes the `PreparedRequest` and returns `(status, headers, body)`; the
body may be bytes, a str, or an open binary file, which is handed to `requests` as the raw
stream and read in chunks (`stream=True` + `iter_lines` never load it whole).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

Answer = tuple[int, dict[str, str], bytes | str | IO[bytes]]
Route = Callable[[requests.PreparedRequest], Answer]


def _response(request: requests.PreparedRequest, answer: Answer) -> requests.Response:
    status, headers, body = answer
    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict(headers)
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    if isinstance(body, str):
        body = body.encode()
    response.raw = io.BytesIO(body) if isinstance(body, bytes) else body
    return response


@contextmanager
def stubbed(routes: dict[tuple[str, str], Route]) -> Iterator[None]:
    """Within the block, `requests` answers `routes` locally and refuses everything else."""
    original = HTTPAdapter.send

    def send(self: HTTPAdapter, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        route = routes.get((request.method or "GET", request.url or ""))
        if route is None:
            raise requests.ConnectionError(f"benchmark stub: no route for {request.method} "
                                           f"{request.url}", request=request)
        return _response(request, route(request))

    HTTPAdapter.send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        HTTPAdapter.send = original  # type: ignore[method-assign]
