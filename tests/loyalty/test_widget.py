"""What the rewards widget shows: a member's own figures from the ledger, a guest's way in,
and the panel's preview of the program as saved or as being edited."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from app.db import utcnow
from app.loyalty import ledger, referrals, tiers
from app.loyalty.embed import mint_token
from app.loyalty.models import HELD, LoyaltyMember, Redemption
from app.loyalty.program import read_program
from app.loyalty.widget import widget_view
from tests.customer_helpers import sign_in
from tests.loyalty.widget_helpers import SECRET, add_reward, make_member, open_program, woo_store

TIERS = [{"name": "Bronze", "threshold": "0", "multiplier": "1"},
         {"name": "Silver", "threshold": "500", "multiplier": "1.5", "perks": "Free returns"},
         {"name": "Gold", "threshold": "1000", "multiplier": "2"}]


def test_a_member_sees_balance_pending_spendable_rewards_and_history(shop, session):
    open_program(session, shop, pending_days=14)
    customer = make_member(session, shop, "207119551", points=400)
    ledger.append(session, shop.id, ledger.NewEntry(
        customer_id=customer.id, kind="pending", points=60, status="pending",
        reason="Order #1002", source="order", key="order:1002:purchase",
        available_at=utcnow() + timedelta(days=14)))
    session.add(Redemption(shop_id=shop.id, customer_id=customer.id, reward={}, points=100,
                           status=HELD, code="HOLD-1", idempotency_key="k1"))
    session.add(Redemption(shop_id=shop.id, customer_id=customer.id,
                           reward={"name": "$5 off", "kind": "fixed_amount", "value": "5"},
                           points=250, status="issued", code="ADA-5OFF", idempotency_key="k2"))
    cheap = add_reward(session, shop, "$5 off", 250)
    dear = add_reward(session, shop, "Free shipping", 350, kind="free_shipping", value=0)
    add_reward(session, shop, "Retired", 10, active=False)

    view = widget_view(session, shop, customer.id)

    assert view["points_balance"] == 400 and view["pending_points"] == 60
    assert view["spendable_points"] == 300  # 100 held for a code being made
    assert [(r["id"], r["affordable"], r["points_needed"]) for r in view["rewards"]] == [
        (cheap.id, True, 0), (dear.id, False, 50)]
    assert view["rewards"][1]["description"] == "Free shipping"
    assert [h["kind"] for h in view["history"]] == ["pending", "earn"]  # newest first
    assert view["history"][0]["description"].startswith("On the way: Order #1002 (spendable")
    assert view["history"][1]["description"] == "Earned: Order #1001"
    assert [c["code"] for c in view["codes"]] == ["ADA-5OFF"]
    ways = {w["key"]: w for w in view["ways_to_earn"]}
    assert ways["purchase"]["detail"].startswith("2 points for every $1.00 you spend")
    assert "14 days after your order is paid" in ways["purchase"]["detail"]
    assert ways["signup"]["points"] == 100 and ways["birthday"]["points"] == 75
    assert view["referral_url"] is None  # referrals off


def test_another_stores_profile_is_a_guest_here(shop, other_shop, session):
    open_program(session, other_shop)
    theirs = make_member(session, other_shop, "1", points=900)
    view = widget_view(session, shop, theirs.id)
    assert view["guest"] is True and view["points_balance"] is None and view["history"] == []


def test_a_guest_gets_the_program_and_no_figures(shop, session):
    open_program(session, shop)
    add_reward(session, shop, "$5 off", 250)
    view = widget_view(session, shop, None)
    assert view["guest"] is True
    assert view["points_balance"] is None and view["spendable_points"] is None
    assert view["referral_url"] is None and view["codes"] == [] and view["birthday"] is None
    assert view["signup_points"] == 100 and view["rewards"][0]["points_cost"] == 250
    assert "affordable" not in view["rewards"][0]


def test_tier_progress_becomes_a_bar_and_a_sentence(shop, session, monkeypatch):
    open_program(session, shop, tiers=TIERS)
    customer = make_member(session, shop, "207119551", points=10)
    monkeypatch.setattr(tiers, "progress", lambda *a, **k: {
        "tier": "Silver", "next_tier": "Gold", "basis": "spend", "value": "750.00",
        "needed": "1000"})

    view = widget_view(session, shop, customer.id)

    assert view["tier"] == "Silver" and view["next_tier"] == "Gold"
    assert view["progress"]["percent"] == 75
    assert view["progress"]["sentence"] == ("Spend $250.00 more to reach Gold (counting the "
                                            "last 12 months).")


def test_the_referral_link_comes_from_the_referrals_module(shop, session, monkeypatch):
    open_program(session, shop, referrals_enabled=True, referral_advocate_points=200)
    customer = make_member(session, shop, "207119551")
    monkeypatch.setattr(referrals, "referral_url",
                        lambda shop_, code: f"https://{shop_.domain}/?ref={code}")

    view = widget_view(session, shop, customer.id)

    code = session.get(LoyaltyMember, customer.id).referral_code
    assert view["referral_url"] == f"https://sticky-test.myshopify.com/?ref={code}"
    assert "you earn 200 points" in {w["key"]: w for w in view["ways_to_earn"]}["referral"][
        "detail"]


def test_a_name_or_reason_with_markup_stays_text_on_the_page(client, shop, session):
    store = woo_store(session, "hats.example", SECRET)
    open_program(session, store)
    customer = make_member(session, store, "42", first_name="<img src=x onerror=alert(1)>")
    ledger.adjust(session, store.id, customer.id, 5, "<script>steal()</script>",
                  created_by="merchant@example.com")
    session.commit()

    html = client.get(f"/embed/rewards?token={mint_token(SECRET, store.id, '42')}").get_data(
        as_text=True)

    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>steal()" not in html and "&lt;script&gt;steal()&lt;/script&gt;" in html


# --- the panel's preview -------------------------------------------------------------------


@pytest.fixture
def panel(client, session, shop):
    sign_in(client, session, shop)
    return client


def preview(panel, query: str = "") -> str:
    response = panel.get(f"/admin/loyalty/preview{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    return response.get_data(as_text=True)


def balance_on(html: str) -> int:
    match = re.search(r'data-sr="points-balance">([\d,]+)<', html)
    assert match, "no balance on the page"
    return int(match.group(1).replace(",", ""))


def test_the_preview_shows_a_sample_member_under_the_saved_program(panel, shop, session):
    open_program(session, shop, tiers=TIERS)
    add_reward(session, shop, "$5 off", 150)

    html = preview(panel)

    assert "Preview: a sample member (Alex)" in html
    # 100 for joining + 80.00 × 2 points × Bronze's 1× + 50 for the first order.
    assert balance_on(html) == 100 + 160 + 50
    assert "Tier: <strong" in html and "Bronze" in html
    assert 'class="sr-progress"' in html and "to reach Silver" in html
    assert "$5 off" in html and "disabled" in html  # nothing can be redeemed in a preview


def test_the_preview_follows_the_settings_being_edited(panel, shop, session):
    open_program(session, shop)
    html = preview(panel, "?points_per_unit=3&signup_points=10&first_order_points=0"
                          "&tiers-0-name=Member&tiers-0-threshold=0&tiers-0-multiplier=1"
                          "&tiers-1-name=VIP&tiers-1-threshold=200&tiers-1-multiplier=2")
    assert balance_on(html) == 10 + 240
    assert "3 points for every $1.00 you spend" in html
    assert "VIP members earn 2×" in html and "to reach VIP" in html


def test_a_half_typed_value_falls_back_to_the_saved_one(panel, shop, session):
    open_program(session, shop)  # 2 points per unit, 100 for joining, 50 first order
    html = preview(panel, "?points_per_unit=2.&signup_points=abc&first_order_points=-5"
                          "&tiers-0-name=&tiers-0-threshold=x")
    assert balance_on(html) == 100 + 160 + 50
    assert "2 points for every $1.00" in html and 'class="sr-progress"' not in html


def test_the_preview_shows_pending_points_and_a_switched_off_program(panel, shop, session):
    open_program(session, shop)
    html = preview(panel, "?pending_days=30&enabled=false")
    assert "The program is off" in html
    assert "Plus 160 on the way" in html and balance_on(html) == 150


def test_the_preview_needs_a_signed_in_merchant(client, shop):
    response = client.get("/admin/loyalty/preview")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_sample_figures_never_touch_a_real_profile(panel, shop, session):
    open_program(session, shop)
    real = make_member(session, shop, "207119551", points=1234)
    preview(panel, "?points_per_unit=10")
    session.expire_all()
    assert ledger.balance(session, shop.id, real.id) == 1234
    assert read_program(session, shop.id).points_per_unit == Decimal("2")  # nothing saved
