"""The one outbound HTTP client every connector uses.

A `requests.Session` per client (connection reuse), a default timeout on every call, retries
with capped exponential backoff on 429 and 5xx (honouring `Retry-After`), and typed errors so
callers can tell "try later" from "your credentials are wrong" from "the platform is down".

Credentials are never logged: only the method, the host and path, and the status.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
USER_AGENT = "Sticky/0.1 (+https://github.com/sticky-retention/sticky)"


class HttpError(Exception):
    """An outbound call that did not succeed. `status` is None when no response came back."""

    def __init__(self, message: str, *, status: int | None = None, url: str = "",
                 body: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        self.body = body[:2000]
        self.retry_after = retry_after


class TransportError(HttpError):
    """Connection refused, DNS failure, TLS failure or timeout."""


class RateLimited(HttpError):
    """429 after every retry; `retry_after` says when to come back, if the platform said."""


class ServerError(HttpError):
    """5xx after every retry."""


class ClientError(HttpError):
    """A 4xx other than 429: retrying the same request will not help."""


class Unauthorized(ClientError):
    """401 or 403: the credentials are wrong, revoked or lack a scope."""


class NotFound(ClientError):
    """404."""


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"  # never the query: it may carry credentials


def error_for(response: requests.Response) -> HttpError:
    status = response.status_code
    where = _where(response.url or "")
    kwargs = {"status": status, "url": where, "body": response.text or "",
              "retry_after": _retry_after(response)}
    if status == 429:
        return RateLimited(f"rate limited by {where}", **kwargs)
    if status >= 500:
        return ServerError(f"{where} answered {status}", **kwargs)
    if status in (401, 403):
        return Unauthorized(f"{where} refused the credentials ({status})", **kwargs)
    if status == 404:
        return NotFound(f"{where} was not found (404)", **kwargs)
    return ClientError(f"{where} answered {status}", **kwargs)


class HttpClient:
    """`request()` returns a 2xx/3xx response or raises an `HttpError` subclass.

    `retries` counts extra attempts after the first. Non-idempotent methods (POST, PATCH) are
    retried only on 429 and 503 (the server did not act), unless `idempotent=True` is passed.
    """

    def __init__(self, *, timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
                 retries: int = 4, backoff: float = 0.5, max_backoff: float = 30.0,
                 session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.sleep = sleep

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        # Full jitter keeps many workers from retrying in lockstep.
        return random.uniform(0, min(self.max_backoff, self.backoff * (2 ** attempt)))  # noqa: S311

    def request(self, method: str, url: str, *, idempotent: bool | None = None,
                timeout: tuple[float, float] | float | None = None,
                **kwargs: Any) -> requests.Response:
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, timeout=timeout or self.timeout,
                                                **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not safe or attempt >= self.retries:
                    raise TransportError(f"{method} {_where(url)} failed: {exc.__class__.__name__}",
                                         url=_where(url)) from exc
                wait = self.delay(attempt)
                log.warning("http.transport_retry", extra={"url": _where(url), "wait": wait})
            else:
                status = response.status_code
                if status < 400:
                    return response
                retryable = status in RETRY_STATUSES and (safe or status in (429, 503))
                if not retryable or attempt >= self.retries:
                    raise error_for(response)
                wait = self.delay(attempt, _retry_after(response))
                log.warning("http.retry", extra={"url": _where(url), "status": status,
                                                 "wait": wait})
            self.sleep(wait)
            attempt += 1

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self.session.close()
