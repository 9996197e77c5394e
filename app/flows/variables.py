"""The variables a flow email's templates see (documented for the editor in
`app.email.render.VARIABLES`).

    shop             {name, url, currency}
    customer         {first_name, last_name, full_name, email, orders_count, total_spent,
                      points_balance, tier}
    event            the trigger's facts (the run's context["event"])
    checkout         {items [{title, variant_title, quantity, price, image_url}], total,
                      currency, recovery_url} | None   (the run's checkout, by its token)
    order            {name, items [...], total, currency} | None   (the run's order)
    discount         {code, kind, value, expires_at} | None   (this run's latest code)
    recommendations  [{title, url, image_url, price}]   (bought together with the order's items)
    survey           {question, scores [{score, url}]} | None   (steps with "survey")
    loyalty          {points_balance, tier, points, expiring_points, expires_at, reward}
    unsubscribe_url, preferences_url   (the same page: one click, no sign-in)

Missing facts are None or empty, never an error: a template written for an abandoned checkout
still renders in a preview without one. Money is a string decimal in its currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from app.email import tokens
from app.flows.models import STEP_DONE, FlowRun, FlowRunStep
from app.money import format_money
from app.profiles.models import Cart, Customer, Order, OrderLine
from app.shops.models import Shop

RECOMMENDATIONS = 3


@dataclass
class Prefetched:
    """What the variables of a batch of messages read, loaded for the whole batch in a few
    queries (`prefetch`); a key present with None means "looked up, there is none". A
    batch's messages are decided within a second or two, so sharing the store's cross-sell
    answer between them changes nothing a shopper sees."""

    checkouts: dict[tuple[int, str], dict[str, Any] | None] = field(default_factory=dict)
    orders: dict[tuple[int, int], dict[str, Any] | None] = field(default_factory=dict)
    discounts: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    recommendations: dict[tuple[int, tuple[str, ...]], list[dict[str, Any]]] = field(
        default_factory=dict)


def prefetch(session: Session, runs: list[FlowRun], discount_runs: set[int]) -> Prefetched:
    """The runs' checkouts (by their token), orders with their lines, and, for the runs in
    `discount_runs`, their latest discount codes: one query each, whatever the batch's
    size."""
    found = Prefetched()
    tokens = {(r.shop_id, t) for r in runs
              if (t := _token(r.context or {}, "checkout_token")) is not None}
    if tokens:
        for cart in session.scalars(select(Cart).where(
                tuple_(Cart.shop_id, Cart.token).in_(sorted(tokens)),
                Cart.kind == "checkout").order_by(Cart.id)):
            found.checkouts.setdefault((cart.shop_id, cart.token), _checkout_of(cart))
        for key in tokens:
            found.checkouts.setdefault(key, None)
    order_keys = {(r.shop_id, int(o)) for r in runs
                  if (o := _token(r.context or {}, "order_id")) is not None and o.isdigit()}
    if order_keys:
        orders = list(session.scalars(select(Order).where(
            tuple_(Order.shop_id, Order.id).in_(sorted(order_keys)))))
        lines: dict[int, list[OrderLine]] = {}
        if orders:
            for line in session.scalars(select(OrderLine).where(
                    tuple_(OrderLine.shop_id, OrderLine.order_id).in_(
                        sorted((o.shop_id, o.id) for o in orders))).order_by(OrderLine.id)):
                lines.setdefault(line.order_id, []).append(line)
        for order in orders:
            found.orders[(order.shop_id, order.id)] = _order_of(order, lines.get(order.id, []))
        for key in order_keys:
            found.orders.setdefault(key, None)
    wanted = {(r.shop_id, r.id) for r in runs if r.id in discount_runs}
    if wanted:
        for run_id, detail in session.execute(select(FlowRunStep.run_id, FlowRunStep.detail)
                                              .where(*_discount_steps(wanted))
                                              .order_by(FlowRunStep.at.desc(),
                                                        FlowRunStep.id.desc())):
            found.discounts.setdefault(run_id, _discount_of(detail))
        for _, run_id in wanted:
            found.discounts.setdefault(run_id, None)
    return found


def build(session: Session, run: FlowRun, step: dict[str, Any], message_pk: int, *,
          customer: Customer | None = None,
          definition: dict[str, Any] | None = None,
          prefetched: Prefetched | None = None) -> dict[str, Any]:
    """The variables of the email `message_pk`, sent by `run` at `step` (`customer`: the
    run's shopper and `definition` the run's, when the caller has them already: a flow
    without a discount step has no code to look up; `prefetched`: a batch's facts)."""
    shop = session.get(Shop, run.shop_id)
    variables = for_customer(session, shop, run.customer_id, step, run.context or {},
                             message_pk=message_pk, customer=customer, prefetched=prefetched)
    if definition is None or _has_discount_step(definition):
        if prefetched is not None and run.id in prefetched.discounts:
            variables["discount"] = prefetched.discounts[run.id]
        else:
            variables["discount"] = discount_of_run(session, run.shop_id, run.id)
    return variables


def has_discount_step(definition: dict[str, Any]) -> bool:
    """Whether a flow's definition makes discount codes (its emails may show one)."""
    return _has_discount_step(definition)


def _has_discount_step(definition: dict[str, Any]) -> bool:
    from app.flows.definition import walk

    return any(s.get("type") == "discount" for s in walk(definition.get("steps") or []))


def for_customer(session: Session, shop: Shop, customer_id: int | None, step: dict[str, Any],
                 context: dict[str, Any] | None, *, message_pk: int | None = None,
                 customer: Customer | None = None,
                 prefetched: Prefetched | None = None) -> dict[str, Any]:
    """The variables for `customer_id` (None: the store's alone) and a trigger's `context`
    (None: the shopper's latest checkout and order, as the editor's live preview and a test
    send show them). Without `message_pk` the links are those of no message (the
    unsubscribe page says the link is not valid)."""
    if context is None:
        context = sample_context(session, shop.id, customer_id)
    if customer is None and customer_id is not None:
        customer = session.scalar(select(Customer).where(
            Customer.shop_id == shop.id, Customer.id == customer_id))
    event = dict(context.get("event") or {})
    checkout = _checkout(session, shop.id, context, prefetched)
    order = _order(session, shop.id, context, prefetched)
    product_ids = [item["product_id"] for item in (order or {}).get("_lines", [])
                   if item.get("product_id")]
    unsubscribe_url = tokens.url("unsubscribe", message_pk or 0)
    survey = None
    if step.get("survey"):
        from app.flows.survey import survey_variables

        survey = survey_variables(message_pk or 0, step["survey"])
    if order is not None:
        order.pop("_lines")
    return {
        "shop": {"name": shop.name or shop.domain, "url": _shop_url(shop),
                 "currency": shop.currency},
        "customer": _customer(customer, shop.currency),
        "event": event,
        "checkout": checkout,
        "order": order,
        "discount": None,
        "recommendations": _recommendations(session, shop.id, product_ids, prefetched),
        "survey": survey,
        "loyalty": _loyalty(customer, event),
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": unsubscribe_url,
    }


def sample_context(session: Session, shop_id: int, customer_id: int | None) -> dict[str, Any]:
    """A context as a trigger would give it, from the shopper's latest checkout and order."""
    if customer_id is None:
        return {}
    token = session.scalar(select(Cart.token).where(
        Cart.shop_id == shop_id, Cart.customer_id == customer_id, Cart.kind == "checkout",
    ).order_by(Cart.id.desc()).limit(1))
    order_id = session.scalar(select(Order.id).where(
        Order.shop_id == shop_id, Order.customer_id == customer_id,
    ).order_by(Order.placed_at.desc()).limit(1))
    context: dict[str, Any] = {}
    if token:
        context["checkout_token"] = token
    if order_id:
        context["order_id"] = order_id
    return context


def discount_of_run(session: Session, shop_id: int, run_id: int) -> dict[str, Any] | None:
    """The code made by the run's latest discount step, as the email shows it."""
    detail = session.scalar(select(FlowRunStep.detail).where(
        *_discount_steps({(shop_id, run_id)}),
    ).order_by(FlowRunStep.at.desc(), FlowRunStep.id.desc()).limit(1))
    return _discount_of(detail)


def _discount_steps(runs: set[tuple[int, int]]) -> list[Any]:
    return [tuple_(FlowRunStep.shop_id, FlowRunStep.run_id).in_(sorted(runs)),
            FlowRunStep.step_type == "discount", FlowRunStep.status == STEP_DONE]


def _discount_of(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    if not detail or not detail.get("code"):
        return None
    return {"code": detail["code"], "kind": detail.get("kind"), "value": detail.get("value"),
            "expires_at": detail.get("expires_at")}


def _shop_url(shop: Shop) -> str:
    domain = shop.domain or ""
    return domain if domain.startswith(("http://", "https://")) else f"https://{domain}"


def _customer(customer: Customer | None, currency: str) -> dict[str, Any]:
    if customer is None:
        return {"first_name": None, "last_name": None, "full_name": None, "email": None,
                "orders_count": 0, "total_spent": None, "points_balance": 0, "tier": None}
    full = " ".join(p for p in (customer.first_name, customer.last_name) if p) or None
    return {
        "first_name": customer.first_name, "last_name": customer.last_name, "full_name": full,
        "email": customer.email, "orders_count": customer.orders_count or 0,
        "total_spent": format_money(customer.total_spent, currency),
        "points_balance": customer.points_balance or 0, "tier": customer.tier,
    }


def _token(context: dict[str, Any], *names: str) -> str | None:
    event = context.get("event") or {}
    for name in names:
        value = context.get(name) or event.get(name)
        if value:
            return str(value)
    return None


def _item(line: dict[str, Any], currency: str | None) -> dict[str, Any]:
    price = line.get("price")
    return {"title": line.get("title"), "variant_title": line.get("variant_title"),
            "quantity": line.get("quantity") or 1,
            "price": None if price is None else format_money(price, currency),
            "image_url": line.get("image_url"), "product_id": line.get("product_id")}


def _checkout(session: Session, shop_id: int, context: dict[str, Any],
              prefetched: Prefetched | None = None) -> dict[str, Any] | None:
    token = _token(context, "checkout_token")
    cart_token = _token(context, "cart_token")
    if token is None and cart_token is None:
        return None
    if token is not None and prefetched is not None and (shop_id, token) in prefetched.checkouts:
        return prefetched.checkouts[(shop_id, token)]
    query = select(Cart).where(Cart.shop_id == shop_id)
    if token is not None:
        query = query.where(Cart.kind == "checkout", Cart.token == token)
    else:
        query = query.where(Cart.token == cart_token).order_by(Cart.kind == "cart")
    cart = session.scalars(query.limit(1)).first()
    return None if cart is None else _checkout_of(cart)


def _checkout_of(cart: Cart) -> dict[str, Any]:
    return {"items": [_item(line, cart.currency) for line in cart.line_items or []],
            "total": format_money(cart.total_price, cart.currency), "currency": cart.currency,
            "recovery_url": cart.recovery_url}


def _order(session: Session, shop_id: int, context: dict[str, Any],
           prefetched: Prefetched | None = None) -> dict[str, Any] | None:
    order_id = _token(context, "order_id")
    if order_id is None or not order_id.isdigit():
        return None
    if prefetched is not None and (shop_id, int(order_id)) in prefetched.orders:
        found = prefetched.orders[(shop_id, int(order_id))]
        return None if found is None else dict(found)  # the caller pops "_lines"
    order = session.scalar(select(Order).where(Order.shop_id == shop_id,
                                               Order.id == int(order_id)))
    if order is None:
        return None
    lines = session.scalars(select(OrderLine).where(
        OrderLine.shop_id == shop_id, OrderLine.order_id == order.id).order_by(OrderLine.id))
    return _order_of(order, list(lines))


def _order_of(order: Order, lines: list[OrderLine]) -> dict[str, Any]:
    items = [_item({"title": line.title, "variant_title": line.variant_title,
                    "quantity": line.quantity, "price": line.price,
                    "product_id": line.product_id}, order.currency) for line in lines]
    return {"name": order.name, "items": items,
            "total": format_money(order.total_price, order.currency),
            "currency": order.currency, "_lines": items}


def _recommendations(session: Session, shop_id: int, product_ids: list[str],
                     prefetched: Prefetched | None = None) -> list[dict[str, Any]]:
    if not product_ids:
        return []
    key = (shop_id, tuple(sorted(product_ids)))
    if prefetched is not None and key in prefetched.recommendations:
        return prefetched.recommendations[key]
    found = _recommend(session, shop_id, product_ids)
    if prefetched is not None:
        prefetched.recommendations[key] = found
    return found


def _recommend(session: Session, shop_id: int, product_ids: list[str]) -> list[dict[str, Any]]:
    from app.flows.crosssell import recommend

    return [{"title": r.get("title"), "url": r.get("url"), "image_url": r.get("image_url"),
             "price": r.get("price")}
            for r in recommend(session, shop_id, product_ids, limit=RECOMMENDATIONS)]


def _loyalty(customer: Customer | None, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "points_balance": (customer.points_balance or 0) if customer is not None else 0,
        "tier": event.get("tier") or (customer.tier if customer is not None else None),
        "points": event.get("points"),
        "expiring_points": event.get("expiring_points"),
        "expires_at": event.get("expires_at"),
        "reward": event.get("reward"),
    }
