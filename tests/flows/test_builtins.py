"""The built-in flows: valid definitions, installed once per store as drafts, and emails that
render with the documented variables."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import responses
from jinja2 import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select

from app.db import db
from app.flows import builtins
from app.flows.conditions import Facts, evaluate
from app.flows.definition import Plan, normalize, walk
from app.flows.models import DRAFT, MARKETING, TRANSACTIONAL, Flow, FlowVersion
from app.flows.service import create_flow
from app.queue import get_queue
from app.shops.models import Shop

KEYS = ("welcome", "abandoned_checkout", "post_purchase", "feedback", "win_back", "birthday",
        "loyalty_notices")
EMAIL_TEMPLATES = Path(builtins.TEMPLATES).parent


def _definition(key: str) -> dict:
    data = builtins.flow_data(key)
    return normalize({k: v for k, v in data.items()
                      if k in ("trigger", "trigger_filters", "flow_filters", "steps",
                               "send_to", "smart_sending", "exit_on_order")})


def test_the_seven_built_ins_are_the_keys_of_the_design():
    assert tuple(builtins.BUILTINS) == KEYS


@pytest.mark.parametrize("key", KEYS)
def test_every_built_in_normalizes_and_keeps_its_step_ids(key):
    definition = _definition(key)
    ids = [s["id"] for s in walk(definition["steps"])]
    assert ids == [s["id"] for s in walk(builtins.BUILTINS[key]["steps"])]
    assert Plan(definition).email_steps(), f"{key} sends at least one email"


def test_every_email_source_is_a_file_of_its_own_and_extends_the_layout():
    for key in KEYS:
        for step in Plan(_definition(key)).email_steps():
            path = builtins.TEMPLATES / f"{step['template']}.html"
            assert path.read_text() == step["html"]
            assert step["html"].startswith('{% extends "layout.html" %}')


def test_abandoned_checkout_waits_an_hour_stops_on_order_and_reminds_a_day_later():
    d = _definition("abandoned_checkout")
    assert d["trigger"] == {"type": "event", "event": "checkout_started"}
    assert d["exit_on_order"] is True
    kinds = [(s["type"], s.get("minutes")) for s in d["steps"]]
    assert kinds == [("wait", 60), ("email", None), ("wait", 24 * 60), ("email", None)]
    # No code by default: the reminder shows one only when a discount step made it.
    assert not any(s["type"] == "discount" for s in walk(d["steps"]))


def test_categories_marketing_except_loyalty_notices():
    for key in KEYS:
        expected = TRANSACTIONAL if key == "loyalty_notices" else MARKETING
        assert builtins.BUILTINS[key]["category"] == expected


@pytest.mark.parametrize(("kind", "step"), [
    ("tier_changed", "tier"), ("points_expiring", "expiring"),
    ("reward_redeemed", "reward"), ("points_earned", "earned")])
def test_loyalty_notices_choose_one_email_per_kind(kind, step):
    plan = Plan(_definition("loyalty_notices"))
    facts = Facts(profile={}, event={"kind": kind})
    at = plan.first()
    while plan.step(at)["type"] == "split":
        at = plan.branch(at, "yes" if evaluate(plan.step(at)["condition"], facts) else "no")
    assert at == step
    assert plan.after(at) is None  # one email, then the run is complete


def test_install_creates_every_built_in_once_as_a_draft(session, shop, other_shop):
    # when the built-ins are installed twice
    created = builtins.install(session, shop.id)
    session.commit()
    again = builtins.install(session, shop.id)
    session.commit()

    # then the first call made the seven, as drafts on version 1, and the second nothing
    assert sorted(f.key for f in created) == sorted(KEYS)
    assert again == []
    flows = session.scalars(select(Flow).where(Flow.shop_id == shop.id)).all()
    assert len(flows) == 7
    assert {f.status for f in flows} == {DRAFT}
    assert {f.key: f.name for f in flows}["abandoned_checkout"] == "Abandoned checkout"
    notices = next(f for f in flows if f.key == "loyalty_notices")
    assert notices.category == TRANSACTIONAL
    assert notices.definition["send_to"] == "not_unsubscribed"
    assert next(f for f in flows if f.key == "welcome").definition["send_to"] == "subscribed"
    assert session.scalar(select(func.count()).select_from(FlowVersion)
                          .where(FlowVersion.shop_id == shop.id)) == 7
    # and another store has none until its own install
    assert session.scalar(select(func.count()).select_from(Flow)
                          .where(Flow.shop_id == other_shop.id)) == 0


def test_install_skips_a_built_in_that_already_exists(session, shop):
    # given a welcome flow made (and renamed) before the install
    create_flow(session, shop.id, {**builtins.flow_data("welcome"), "name": "Hello!"},
                key="welcome")
    session.commit()

    # when the built-ins are installed
    created = builtins.install(session, shop.id)
    session.commit()

    # then the six others are made, and the merchant's welcome is left as it was
    assert sorted(f.key for f in created) == sorted(set(KEYS) - {"welcome"})
    assert session.scalar(select(Flow.name).where(Flow.shop_id == shop.id,
                                                  Flow.key == "welcome")) == "Hello!"


def test_ensure_installed_returns_every_built_in(session, shop):
    first = builtins.ensure_installed(session, shop.id)
    session.commit()
    second = builtins.ensure_installed(session, shop.id)
    assert [f.key for f in first] == [f.key for f in second]
    assert sorted(f.key for f in second) == sorted(KEYS)
    assert [f.id for f in first] == [f.id for f in second]


def test_connecting_a_shopify_store_by_oauth_installs_the_built_ins(session):
    from app.shopify.install import complete_install
    from connectors.shopify.oauth import OfflineToken

    grant = OfflineToken(access_token="shpat_x", scope="read_orders", expires_at=None,
                         refresh_token=None, refresh_token_expires_at=None)
    shop, activated = complete_install(session, "new-store.myshopify.com", grant)
    session.commit()
    assert activated
    assert sorted(session.scalars(select(Flow.key).where(Flow.shop_id == shop.id))) == \
        sorted(KEYS)


# The sample data a real run gives the templates (the variables of the flows brief).
SAMPLE = {
    "shop": {"name": "Harbour & Pine", "url": "https://harbour-pine.example",
             "currency": "EUR"},
    "customer": {"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace",
                 "email": "ada@example.com", "orders_count": 2,
                 "total_spent": Decimal("120.00"), "points_balance": 340, "tier": "Silver"},
    "event": {"kind": "tier_changed", "to": "Silver", "direction": "up",
              "code": "REWARD-7Q2K", "status": "available"},
    "checkout": {"items": [{"title": "Linen shirt", "variant_title": "M", "quantity": 2,
                            "price": "39.00", "image_url": None},
                           {"title": "Canvas tote", "variant_title": None, "quantity": 1,
                            "price": "18.00", "image_url": None}],
                 "total": "96.00", "currency": "EUR",
                 "recovery_url": "https://harbour-pine.example/checkouts/abc/recover"},
    "order": {"name": "#1042", "items": [{"title": "Linen shirt", "variant_title": "M",
                                          "quantity": 1, "price": "39.00",
                                          "image_url": None}],
              "total": "39.00", "currency": "EUR"},
    "discount": {"code": "WELCOME-5KD9", "kind": "percentage", "value": "15",
                 "expires_at": "2026-12-21"},
    "recommendations": [{"title": "Wool socks", "url": "https://harbour-pine.example/p/1",
                         "image_url": None, "price": "12.00"}],
    "survey": {"question": "nps",
               "scores": [{"score": s, "url": f"https://sticky.test/t/s/tok{s}"}
                          for s in range(11)]},
    "loyalty": {"points_balance": 340, "tier": "Silver", "points": 40,
                "expiring_points": 120, "expires_at": "2027-01-05", "reward": "$5 off"},
    "unsubscribe_url": "https://sticky.test/unsubscribe/tok",
    "preferences_url": "https://sticky.test/unsubscribe/tok",
}


def _render(source: str, variables: dict, *, html: bool = True) -> str:
    # The email package's sandbox: autoescaped HTML (not the subject), sources limited to
    # templates/email.
    env = SandboxedEnvironment(autoescape=html, loader=FileSystemLoader(EMAIL_TEMPLATES))
    return env.from_string(source).render(variables)


def _emails():
    for key in KEYS:
        for step in Plan(_definition(key)).email_steps():
            yield key, step


@pytest.mark.parametrize(("key", "step_id"), [(k, s["id"]) for k, s in _emails()])
def test_each_email_renders_with_sample_variables_and_with_none_of_them(key, step_id):
    step = Plan(_definition(key)).step(step_id)
    html = _render(step["html"], SAMPLE)
    subject = _render(step["subject"], SAMPLE, html=False)
    assert "Harbour &amp; Pine" in html
    assert subject.strip() and "{{" not in subject
    assert "https://sticky.test/unsubscribe/tok" in html
    # Missing values are empty, never an error: a test send to a bare profile still renders.
    bare = _render(step["html"], {"shop": SAMPLE["shop"], "customer": {}})
    assert "<html" in bare and "None" not in bare


def test_the_abandoned_checkout_email_shows_the_items_and_the_recovery_link():
    first, reminder = Plan(_definition("abandoned_checkout")).email_steps()
    html = _render(first["html"], SAMPLE)
    assert "Linen shirt" in html and "Canvas tote" in html
    assert 'href="https://harbour-pine.example/checkouts/abc/recover"' in html
    # the reminder shows a code only when the run made one
    assert "WELCOME-5KD9" in _render(reminder["html"], SAMPLE)
    assert "Your code" not in _render(reminder["html"], {**SAMPLE, "discount": None})
    assert _render(reminder["subject"], {**SAMPLE, "discount": None}, html=False) == \
        "Your checkout at Harbour & Pine is still saved"


def test_the_feedback_email_links_every_score():
    survey = Plan(_definition("feedback")).step("survey")
    assert survey["survey"] == "nps"
    html = _render(survey["html"], SAMPLE)
    for s in range(11):
        assert f'href="https://sticky.test/t/s/tok{s}"' in html


def test_the_cross_sell_lists_the_recommendations():
    html = _render(Plan(_definition("post_purchase")).step("cross-sell")["html"], SAMPLE)
    assert 'href="https://harbour-pine.example/p/1"' in html and "Wool socks" in html


def test_the_win_back_offer_carries_the_code_made_before_it():
    d = _definition("win_back")
    plan = Plan(d)
    assert plan.step(plan.after("wait-7d"))["type"] == "discount"
    assert "WELCOME-5KD9" in _render(plan.step("offer")["html"], SAMPLE)


def test_the_demo_store_gets_three_flows_live_once(session, shop):
    from app.demo.flows import ensure_demo_flows

    # when the demo sets its flows up twice
    assert ensure_demo_flows(session, shop.id) == ["welcome", "abandoned_checkout",
                                                   "post_purchase"]
    session.commit()
    flows = {f.key: f for f in builtins.ensure_installed(session, shop.id)}
    flows["welcome"].status = "paused"  # the merchant pauses one meanwhile
    session.commit()
    assert ensure_demo_flows(session, shop.id) == []

    # then the three are live (the paused one stays paused), the others drafts
    assert {k: f.status for k, f in flows.items()} == {
        "welcome": "paused", "abandoned_checkout": "live", "post_purchase": "live",
        "feedback": "draft", "win_back": "draft", "birthday": "draft",
        "loyalty_notices": "draft"}
    # and the demo's abandoned checkout writes after 5 minutes, on a new version
    checkout = flows["abandoned_checkout"]
    assert checkout.version == 2
    assert Plan(checkout.definition).step("delay")["minutes"] == 5


@responses.activate
def test_shops_add_installs_the_built_ins(app, ctx):
    from tests.test_shops_add import DOMAIN, ENDPOINT, add, shop_details

    responses.post(ENDPOINT, json=shop_details())
    assert add(app, DOMAIN, "--token", "shpat_good_token_1").exit_code == 0

    db.session.close()
    keys = db.session.scalars(select(Flow.key).join(Shop, Shop.id == Flow.shop_id)
                              .where(Shop.domain == DOMAIN)).all()
    assert sorted(keys) == sorted(KEYS)


@responses.activate
def test_a_confirmed_woocommerce_store_gets_the_built_ins(app, client, ctx):
    from tests.test_woo_connect import callback, start, stub_store_api

    token = start(client)
    stub_store_api()
    assert callback(client, token).status_code == 200
    [job] = get_queue("default").get_jobs()
    db.session.commit()
    shop_id = job.args[0]
    assert db.session.scalar(select(func.count()).select_from(Flow)) == 0  # not before
    db.session.close()  # a read left open would hold SQLite's lock against the job's write

    job.perform()

    db.session.close()
    assert sorted(db.session.scalars(select(Flow.key).where(Flow.shop_id == shop_id))) == \
        sorted(KEYS)


@pytest.mark.parametrize(("key", "step_id"), [(k, s["id"]) for k, s in _emails()])
def test_each_email_passes_the_editors_checks_and_renders_through_the_email_package(
        key, step_id):
    from app.email import render

    step = Plan(_definition(key)).step(step_id)
    assert render.check_templates(step) == {}
    for variables in (render.sample_variables(), SAMPLE,
                      {"shop": SAMPLE["shop"], "customer": {}}):
        email = render.render_email(step, variables)
        assert email.subject and "{{" not in email.subject
        assert "None" not in email.html and "None" not in email.text
        assert variables["shop"]["name"] in email.text
