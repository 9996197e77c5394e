"""Shopify Admin GraphQL API client for one shop (the "installation" half of the connector).

    client = AdminClient("x.myshopify.com", token, api_version="2026-10")
    data = client.execute("query { shop { name } }")

GraphQL only, one pinned API version, built on connectors/http.py's HttpClient (timeouts,
retries on 429/5xx honouring Retry-After). On top of that it is throttle-aware: Shopify's
calculated query cost comes back in `extensions.cost`; the client remembers the bucket
(`throttleStatus`) and, before a query whose last known cost exceeds what should be available
now, waits for the bucket to refill. A 200 whose `errors[].extensions.code` is `THROTTLED` is
retried after the wait the cost figures imply (else with backoff).

Typed errors: `AdminAuthError` (401/403, ACCESS_DENIED), `AdminThrottled` (still throttled
after every retry), `GraphQLError` (the query itself failed), `UserErrors` (a mutation
refused its input), `AdminUnavailable` (network, timeouts, 5xx). The token is sent in the
`X-Shopify-Access-Token` header and never logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.http import (
    DEFAULT_TIMEOUT,
    HttpClient,
    HttpError,
    RateLimited,
    Unauthorized,
)

log = logging.getLogger(__name__)


class AdminApiError(Exception):
    """Base of every error the Admin client raises."""


class AdminAuthError(AdminApiError):
    """The token is invalid, revoked, or lacks the scope the query needs."""


class AdminThrottled(AdminApiError):
    """Still throttled after every retry; come back later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AdminUnavailable(AdminApiError):
    """No usable answer: network failure, timeout, 5xx, or an unexpected status."""


class GraphQLError(AdminApiError):
    """The response carried top-level `errors` (a bad query, an unknown field, ...)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        messages = "; ".join(str(e.get("message", e)) for e in errors[:5])
        super().__init__(f"GraphQL error: {messages}")

    @property
    def codes(self) -> set[str]:
        return {str((e.get("extensions") or {}).get("code")) for e in self.errors}


class UserErrors(AdminApiError):
    """A mutation answered with `userErrors`: the input was refused."""

    def __init__(self, user_errors: list[dict[str, Any]]) -> None:
        self.user_errors = user_errors
        messages = "; ".join(
            f"{'.'.join(map(str, e.get('field') or [])) or 'input'}: {e.get('message')}"
            for e in user_errors[:5]
        )
        super().__init__(f"Shopify refused the request: {messages}")


def raise_for_user_errors(payload: dict[str, Any] | None) -> None:
    """Raise `UserErrors` if a mutation payload (e.g. `data.bulkOperationRunQuery`) has any."""
    errors = (payload or {}).get("userErrors") or []
    if errors:
        raise UserErrors(errors)


@dataclass
class Bucket:
    """Shopify's leaky bucket for this shop, as last reported (`throttleStatus`)."""

    maximum: float
    available: float
    restore_rate: float
    seen_at: float

    def available_at(self, now: float) -> float:
        return min(self.maximum, self.available + self.restore_rate * max(0.0, now - self.seen_at))

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` points are available (0 when they already are)."""
        missing = min(cost, self.maximum) - self.available_at(now)
        if missing <= 0 or self.restore_rate <= 0:
            return 0.0
        return missing / self.restore_rate


class AdminClient:
    """Calls one shop's Admin GraphQL API with that shop's token (passed in, never global)."""

    def __init__(self, shop_domain: str, access_token: str, *, api_version: str,
                 http: HttpClient | None = None,
                 timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
                 throttle_retries: int = 6, max_wait: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 base_url: str | None = None) -> None:
        """`base_url` overrides `https://<shop_domain>` (a local stand-in in benchmarks)."""
        self.shop_domain = shop_domain
        base = (base_url or f"https://{shop_domain}").rstrip("/")
        self.endpoint = f"{base}/admin/api/{api_version}/graphql.json"
        self.api_version = api_version
        self._token = access_token
        self.sleep = sleep
        self.clock = clock
        self.http = http or HttpClient(timeout=timeout, sleep=sleep)
        self.throttle_retries = throttle_retries
        self.max_wait = max_wait
        self.bucket: Bucket | None = None
        # Last requested cost per query text: what to expect before sending it again.
        self._known_costs: dict[str, float] = {}

    def __repr__(self) -> str:  # never show the token
        return f"AdminClient({self.shop_domain!r}, api_version={self.api_version!r})"

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a query or mutation and return its `data`; raise a typed error otherwise."""
        attempt = 0
        while True:
            self._wait_for_capacity(query)
            body = self._post(query, variables)
            self._note_cost(query, body)
            errors = body.get("errors")
            if not errors:
                data = body.get("data")
                if data is None:
                    raise AdminUnavailable(f"{self.shop_domain} answered without data")
                return data
            if isinstance(errors, str):  # Shopify sends a bare string for some auth failures
                errors = [{"message": errors}]
            graphql_error = GraphQLError(errors)
            if "THROTTLED" in graphql_error.codes:
                if attempt >= self.throttle_retries:
                    raise AdminThrottled(f"{self.shop_domain} is still throttling after "
                                         f"{attempt} retries", retry_after=self._throttle_wait(
                                             query, attempt))
                wait = self._throttle_wait(query, attempt)
                log.info("shopify.admin.throttled", extra={"shop": self.shop_domain,
                                                            "wait": round(wait, 2)})
                self.sleep(wait)
                attempt += 1
                continue
            if "ACCESS_DENIED" in graphql_error.codes:
                raise AdminAuthError(str(graphql_error))
            raise graphql_error

    # -- throttling -----------------------------------------------------------------

    def _wait_for_capacity(self, query: str) -> None:
        cost = self._known_costs.get(query)
        if cost is None or self.bucket is None:
            return
        wait = min(self.bucket.wait_for(cost, self.clock()), self.max_wait)
        if wait > 0:
            log.info("shopify.admin.waiting_for_capacity",
                     extra={"shop": self.shop_domain, "cost": cost, "wait": round(wait, 2)})
            self.sleep(wait)

    def _throttle_wait(self, query: str, attempt: int) -> float:
        cost = self._known_costs.get(query)
        if cost is not None and self.bucket is not None:
            wait = self.bucket.wait_for(cost, self.clock())
            if wait > 0:
                return min(self.max_wait, math.ceil(wait * 10) / 10)
        # No figures to go by: capped exponential backoff.
        return min(self.max_wait, 1.0 * (2 ** attempt))

    def _note_cost(self, query: str, body: dict[str, Any]) -> None:
        cost = (body.get("extensions") or {}).get("cost")
        if not isinstance(cost, dict):
            return
        requested = cost.get("requestedQueryCost")
        if isinstance(requested, int | float):
            self._known_costs[query] = float(requested)
        status = cost.get("throttleStatus")
        if isinstance(status, dict):
            try:
                self.bucket = Bucket(
                    maximum=float(status["maximumAvailable"]),
                    available=float(status["currentlyAvailable"]),
                    restore_rate=float(status["restoreRate"]),
                    seen_at=self.clock(),
                )
            except (KeyError, TypeError, ValueError):
                log.warning("shopify.admin.bad_cost_extension", extra={"shop": self.shop_domain})

    # -- transport ------------------------------------------------------------------

    def _post(self, query: str, variables: dict[str, Any] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        headers = {"X-Shopify-Access-Token": self._token, "Content-Type": "application/json",
                   "Accept": "application/json"}
        try:
            # A GraphQL query changes nothing and a mutation we send (bulk run) is refused if
            # repeated while one runs, so retrying on 5xx/transport errors is safe.
            response = self.http.post(self.endpoint, json=payload, headers=headers,
                                      idempotent=True)
        except Unauthorized as exc:
            log.warning("shopify.admin.unauthorized", extra={"shop": self.shop_domain,
                                                             "status": exc.status})
            raise AdminAuthError(f"{self.shop_domain} refused the access token "
                                 f"({exc.status}); reinstall the app") from exc
        except RateLimited as exc:
            raise AdminThrottled(f"{self.shop_domain} kept answering 429",
                                 retry_after=exc.retry_after) from exc
        except HttpError as exc:
            raise AdminUnavailable(str(exc)) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise AdminUnavailable(f"{self.shop_domain} answered with something other than "
                                   "JSON") from exc
        if not isinstance(body, dict):
            raise AdminUnavailable(f"{self.shop_domain} answered with unexpected JSON")
        return body


def gid_tail(gid: str | None) -> str | None:
    """`gid://shopify/Order/450789469` → `450789469` (the id webhooks and REST use)."""
    if not gid:
        return None
    tail = str(gid).rsplit("/", 1)[-1]
    return tail.split("?", 1)[0] or None
