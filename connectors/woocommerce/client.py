"""A per-store WooCommerce REST client.

The `woocommerce` package (WooCommerce's own client) opens a new connection per call, has no
retries and no pagination helper, and a 5 s timeout. Sticky keeps its conventions and its
OAuth 1.0a signer, and sends every call through `connectors.http.HttpClient` (one session,
~30 s timeout, backoff on 429/5xx, typed errors):

- URLs are `<store>/wp-json/wc/v3/<endpoint>`, as `woocommerce.API` builds them;
- over HTTPS the keys go as HTTP basic auth (as `woocommerce.API` does);
- over plain HTTP (development stores) each request is signed with OAuth 1.0a by
  `woocommerce.oauth.OAuth`, as WooCommerce documents. The signature is made when the request
  is prepared, so every retry gets a fresh nonce and timestamp (WooCommerce refuses a reused
  nonce).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from requests.auth import AuthBase, HTTPBasicAuth
from woocommerce.oauth import OAuth

from connectors.http import HttpClient

API_VERSION = "wc/v3"
PER_PAGE = 100


class _OAuth1QuerySigner(AuthBase):
    """Adds WooCommerce's OAuth 1.0a query parameters to a prepared request."""

    def __init__(self, consumer_key: str, consumer_secret: str) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        signer = OAuth(url=request.url, consumer_key=self.consumer_key,
                       consumer_secret=self.consumer_secret, version=API_VERSION,
                       method=request.method or "GET", oauth_timestamp=int(time.time()))
        request.url = signer.get_oauth_url()
        return request


@dataclass
class ResultPage:
    items: list[dict[str, Any]]
    page: int
    total: int | None
    total_pages: int | None


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class WooClient:
    """Calls to one store's REST API with that store's keys (never a global session)."""

    def __init__(self, base_url: str, consumer_key: str, consumer_secret: str, *,
                 http: HttpClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http or HttpClient()
        if self.base_url.startswith("https://"):
            self.auth: AuthBase = HTTPBasicAuth(consumer_key, consumer_secret)
        else:
            self.auth = _OAuth1QuerySigner(consumer_key, consumer_secret)

    def url_for(self, endpoint: str) -> str:
        return f"{self.base_url}/wp-json/{API_VERSION}/{endpoint.lstrip('/')}"

    def request(self, method: str, endpoint: str, *, params: dict[str, Any] | None = None,
                json: Any = None, idempotent: bool | None = None) -> requests.Response:
        return self.http.request(method, self.url_for(endpoint), params=params or None,
                                 json=json, auth=self.auth, idempotent=idempotent,
                                 headers={"Accept": "application/json"})

    def get(self, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", endpoint, params=params).json()

    def post(self, endpoint: str, data: Any) -> Any:
        return self.request("POST", endpoint, json=data).json()

    def delete(self, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("DELETE", endpoint, params=params).json()

    def get_page(self, endpoint: str, params: dict[str, Any] | None = None,
                 page: int = 1) -> ResultPage:
        """One page of a collection, with WooCommerce's X-WP-Total / X-WP-TotalPages."""
        query = {"per_page": PER_PAGE, **(params or {}), "page": page}
        response = self.request("GET", endpoint, params=query)
        items = response.json()
        if not isinstance(items, list):
            raise ValueError(f"{endpoint} did not return a list")
        return ResultPage(items, page, _int_header(response, "X-WP-Total"),
                          _int_header(response, "X-WP-TotalPages"))

    def paginate(self, endpoint: str, params: dict[str, Any] | None = None, *,
                 start_page: int = 1) -> Iterator[ResultPage]:
        """Every page of a collection (per_page=100), following X-WP-TotalPages."""
        page = start_page
        while True:
            result = self.get_page(endpoint, params, page)
            if result.items or page == start_page:
                yield result
            last = result.total_pages
            if not result.items or (last is not None and page >= last) or (
                last is None and len(result.items) < PER_PAGE
            ):
                return
            page += 1

    def close(self) -> None:
        self.http.close()
