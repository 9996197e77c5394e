"""Who is looking at a panel page, and for which store: `panel_page` wraps every page view.

Embedded (Shopify admin): a request carrying any of `embedded`, `host`, `shop` or `id_token`
in its query. Document requests are verified by `embedded.shop_for_document_request`; posts
carry a fresh session token in the `id_token` form field (added by static/sticky/panel.js
from `shopify.idToken()`), which is checked like `/api`'s bearer tokens. The token is not
ambient (no cookie), so it is also what protects embedded posts from cross-site forgery.

Standalone: the signed-in account and the store selected in its session
(`app.accounts.service.session_shop`); posts need the session's CSRF token.

Either way `g.shop` is the tenant for the whole request and `g.panel` says how to build links
(embedded links keep `shop`, `host` and `embedded=1`, so the next page finds its store).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, flash, g, redirect, render_template, request, url_for

from app.accounts import csrf
from app.accounts.service import current_account, session_shop
from app.api.auth import AuthError, shop_from_session_token
from app.panel.embedded import shop_for_document_request
from app.routing import field_with_nul
from app.shops.models import Shop

EMBEDDED_PARAMS = ("shop", "host", "embedded")


@dataclass
class PanelRequest:
    shop: Shop
    embedded: bool
    author: str  # who acts, as notes record it
    link_params: dict[str, str] = field(default_factory=dict)

    @property
    def api_key(self) -> str:
        return current_app.config["SHOPIFY_API_KEY"]


def is_embedded_request() -> bool:
    return any(name in request.args for name in (*EMBEDDED_PARAMS, "id_token"))


def panel_url(endpoint: str, **values: Any) -> str:
    """`url_for`, keeping the embedded parameters on embedded pages."""
    panel: PanelRequest | None = g.get("panel")
    if panel is not None:
        for name, value in panel.link_params.items():
            values.setdefault(name, value)
    return url_for(endpoint, **values)


def _embedded_post_shop() -> Shop:
    token = request.form.get("id_token") or ""
    header = request.headers.get("Authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    if not token:
        raise AuthError("this form was sent without a session token; reload the page "
                        "from your Shopify admin and try again", retry_session=True)
    shop = shop_from_session_token(token)
    wanted = request.args.get("shop")
    if wanted and wanted != shop.domain:
        raise AuthError("the session token is for another store")
    return shop


def _refuse(status: int, title: str, reason: str, advice: str):
    return render_template("panel/refused.html", title=title, reason=reason,
                           advice=advice), status


def panel_page(view):
    """Resolve the store through the right door, then run `view` with `g.shop` set."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        if field_with_nul(request.args, request.form) is not None:
            return _refuse(400, "This request contains an invalid character",
                           "A field or link holds a NUL character, which no value can hold.",
                           "Go back, retype what you entered and try again.")
        if is_embedded_request():
            if request.method in ("GET", "HEAD"):
                resolved = shop_for_document_request()
                if not isinstance(resolved, Shop):
                    return resolved  # the patch page, the sign-in page or an error page
                shop = resolved
            else:
                try:
                    shop = _embedded_post_shop()
                except AuthError as exc:
                    response = current_app.make_response(_refuse(
                        exc.status, "Sticky could not verify this request", str(exc),
                        "Open Sticky again from Apps in your Shopify admin."))
                    if exc.retry_session:
                        response.headers["X-Shopify-Retry-Invalid-Session-Request"] = "1"
                    return response
            params = {"shop": shop.domain, "embedded": "1"}
            if request.args.get("host"):
                params["host"] = request.args["host"]
            g.panel = PanelRequest(shop=shop, embedded=True, author="Shopify staff",
                                   link_params=params)
        else:
            account = current_account()
            if account is None:
                flash("Sign in to continue.", "info")
                return redirect(url_for("accounts.login"))
            shop = session_shop()
            if shop is None:
                flash("Choose the store to work on.", "info")
                return redirect(url_for("accounts.stores"))
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                csrf.protect()
            g.panel = PanelRequest(shop=shop, embedded=False, author=account.email)
        g.shop = shop
        return view(*args, **kwargs)

    return wrapped
