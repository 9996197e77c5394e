"""`/admin/loyalty/members`: the program's members with their balance, pending points, tier,
points earned and last activity; search by name or email, sort, pages
(`app.loyalty.member_list`)."""

from __future__ import annotations

from flask import g, redirect, render_template, request

from app.customers.display import LocalTime
from app.db import db
from app.loyalty.member_list import SORTS, list_members, parse_query
from app.panel import bp
from app.panel.door import panel_page, panel_url
from app.panel.loyalty_forms import MemberSearchForm
from app.settings.timezone import shop_zone


@bp.get("/admin/loyalty/members")
@panel_page
def loyalty_members():
    session = db.session
    q, sort, page, errors = parse_query(request.args)
    form = MemberSearchForm(formdata=request.args)
    form.sort.data = sort
    if "q" in errors:
        form.q.errors = [errors.pop("q")]
    result = list_members(session, g.shop.id, q=q, sort=sort, page=page)
    if result.total and not result.rows:  # past the last page: show the last one
        return redirect(panel_url("panel.loyalty_members", q=q or None, sort=sort,
                                  page=result.pages))

    def link(**changes) -> str:
        args = {"q": q or None, "sort": sort if sort != "-last_activity" else None,
                "page": None, **changes}
        return panel_url("panel.loyalty_members", **{k: v for k, v in args.items() if v})

    def sort_link(key: str) -> str:
        # First click: largest or newest first; again: the other way.
        return link(sort=key if sort == f"-{key}" else f"-{key}")

    return render_template(
        "panel/loyalty_members.html", form=form, result=result, q=q, sort=sort,
        sort_keys=SORTS, errors=errors, sort_link=sort_link,
        page_url=lambda number: link(page=number if number > 1 else None),
        when=LocalTime(shop_zone(session, g.shop)),
        embedded_params=g.panel.link_params, active_nav="panel.loyalty",
    ), 400 if errors or form.q.errors else 200
