"""`/admin/customers` (the list, its CSV export) and `/admin/customers/<id>` (a profile, with
the merchant's notes and tags). Reads and writes go through `app.customers`, as `/api` does."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app.customers import notes as merchant
from app.customers.display import CONSENT_LABELS, LocalTime, describe, money, safe_link
from app.customers.export import csv_response
from app.customers.profile import get_customer, load_profile
from app.customers.query import (
    MAX_PAGE,
    SORT_KEYS,
    CustomerFilters,
    list_customers,
    parse_filters,
    parse_page,
    shop_tags,
)
from app.db import db
from app.panel import bp
from app.panel.customer_forms import CustomerFilterForm, NoteForm, TagForm
from app.panel.door import panel_page, panel_url
from app.panel.flow_customer import flows_card, with_flow_emails
from app.panel.loyalty_customer import adjust_points, loyalty_card, new_adjust_form
from app.panel.loyalty_forms import AdjustForm
from app.profiles.models import Customer
from app.segments.membership import resolve_filters
from app.segments.service import list_segments
from app.settings.timezone import shop_zone


def _next_sort(filters: CustomerFilters, key: str) -> str:
    """The sort a column header links to: the other direction if it is the current key,
    else the key's usual first direction (newest, largest, A to Z)."""
    if filters.sort.lstrip("-") == key:
        return key if filters.sort.startswith("-") else f"-{key}"
    return f"-{key}" if SORT_KEYS[key] == "desc" else key


def _list_url(filters: CustomerFilters, **changes) -> str:
    return panel_url("panel.customers", **filters.query_args(**changes))


@bp.get("/admin/customers")
@panel_page
def customers():
    session = db.session
    form = CustomerFilterForm(formdata=request.args)
    filters, errors = parse_filters(request.args)
    filters, missing = resolve_filters(session, g.shop, filters)
    if missing:
        errors["segment"] = "This segment does not exist (any more): choose another."
    segments = list_segments(session, g.shop.id)
    session.commit()  # the built-in segments, added on the store's first look
    segment_names = {str(s.id): s.name for s in segments}
    form.offer_segments(list(segment_names.items()))
    page = parse_page(request.args, "page", 1, MAX_PAGE)
    if isinstance(page, str):
        errors["page"] = page[:1].upper() + page[1:] + "."
        page = 1
    hidden_errors = []
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is not None and field.type != "HiddenField":
            field.errors = [message]
        else:
            hidden_errors.append(f"{name}: {message}")
    zone = shop_zone(session, g.shop)
    result = None
    if not errors:
        result = list_customers(session, g.shop.id, filters, zone, page=page)
        if result.total and not result.customers:  # past the last page: show the last one
            return redirect(_list_url(filters, page=result.pages))
    any_customer = bool(result and result.total) or session.execute(
        select(Customer.id).where(Customer.shop_id == g.shop.id,
                                  Customer.deleted_at.is_(None)).limit(1)).first() is not None
    page_url = (lambda number: _list_url(filters, page=number)) if result else None
    return render_template(
        "panel/customers.html", form=form, filters=filters, result=result,
        errors=errors, hidden_errors=hidden_errors, any_customer=any_customer,
        tag_suggestions=shop_tags(session, g.shop.id),
        sort_url=lambda key: _list_url(filters, sort=_next_sort(filters, key)),
        page_url=page_url, clear_url=panel_url("panel.customers"),
        remove_url=lambda name: _list_url(filters, **{name: None}),
        export_url=panel_url("panel.customers_export", **filters.query_args()),
        api_export_url=url_for("api.export_customers", **filters.query_args()),
        when=LocalTime(zone), money=money, consent_labels=CONSENT_LABELS,
        segment_names=segment_names,
    ), 400 if errors else 200


@bp.get("/admin/customers/export.csv")
@panel_page
def customers_export():
    filters, errors = parse_filters(request.args)
    session = db.session
    filters, missing = resolve_filters(session, g.shop, filters)
    if missing:
        errors["segment"] = missing
    if errors:
        abort(400, description="the export's filters cannot be used: " + " ".join(
            f"`{name}`: {message}" for name, message in errors.items()))
    return csv_response(session, g.shop, filters, shop_zone(session, g.shop))


def _customer_or_404(customer_id: int) -> Customer:
    customer = get_customer(db.session, g.shop.id, customer_id)
    if customer is None:
        abort(404, description=f"No customer {customer_id} in this store.")
    return customer


def _profile_page(customer: Customer, note_form: NoteForm | None = None,
                  tag_form: TagForm | None = None, status: int = 200,
                  adjust_form: AdjustForm | None = None):
    session = db.session
    profile = load_profile(session, customer)
    zone = shop_zone(session, g.shop)
    flows = flows_card(session, g.shop.id, customer.id, customer.email)
    timeline = [describe(event, g.shop.currency) for event in profile.timeline]
    return render_template(
        "panel/customer.html", profile=profile, customer=customer,
        note_form=note_form or NoteForm(formdata=None),
        tag_form=tag_form or TagForm(formdata=None),
        timeline=with_flow_emails(timeline, flows),
        when=LocalTime(zone), money=money, consent_labels=CONSENT_LABELS,
        safe_link=safe_link, active_nav="panel.customers",
        loyalty=loyalty_card(session, g.shop.id, customer),
        flows=flows,
        adjust_form=adjust_form or new_adjust_form(),
        back_url=panel_url("panel.customers"),
    ), status


@bp.get("/admin/customers/<int:customer_id>")
@panel_page
def customer(customer_id: int):
    return _profile_page(_customer_or_404(customer_id))


def _back_to(customer: Customer, anchor: str):
    return redirect(panel_url("panel.customer", customer_id=customer.id, _anchor=anchor))


@bp.post("/admin/customers/<int:customer_id>/notes")
@panel_page
def customer_add_note(customer_id: int):
    customer = _customer_or_404(customer_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _profile_page(customer, note_form=form, status=400)
    merchant.add_note(db.session, customer, form.body.data, g.panel.author)
    db.session.commit()
    flash("Note added.", "success")
    return _back_to(customer, "notes")


@bp.post("/admin/customers/<int:customer_id>/tags")
@panel_page
def customer_add_tag(customer_id: int):
    customer = _customer_or_404(customer_id)
    form = TagForm()
    if not form.validate_on_submit():
        return _profile_page(customer, tag_form=form, status=400)
    result = merchant.add_tag(db.session, customer, form.tag.data, g.panel.author)
    db.session.commit()
    flash(f"Tagged “{result.tag.tag}”." if result.created
          else f"This customer is already tagged “{result.tag.tag}”.", "success")
    return _back_to(customer, "tags")


@bp.post("/admin/customers/<int:customer_id>/tags/<int:tag_id>/delete")
@panel_page
def customer_remove_tag(customer_id: int, tag_id: int):
    customer = _customer_or_404(customer_id)
    tag = merchant.find_tag(db.session, customer, tag_id=tag_id)
    if tag is None:
        abort(404, description="This customer has no such tag (it may have been removed "
                               "already).")
    text = tag.tag
    merchant.remove_tag(db.session, customer, tag, g.panel.author)
    db.session.commit()
    flash(f"Removed the tag “{text}”.", "success")
    return _back_to(customer, "tags")


@bp.post("/admin/customers/<int:customer_id>/points")
@panel_page
def customer_adjust_points(customer_id: int):
    """A manual points adjustment with its reason (the Loyalty card's form)."""
    customer = _customer_or_404(customer_id)
    form = AdjustForm()
    message = adjust_points(db.session, g.shop.id, customer, form, g.panel.author)
    if message is None:
        db.session.rollback()
        return _profile_page(customer, adjust_form=form, status=400)
    db.session.commit()
    flash(message, "success")
    return _back_to(customer, "loyalty")

