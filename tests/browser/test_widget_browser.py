"""The storefront rewards widget in a real browser: the WooCommerce embed opened with a valid
token (balance, tier progress, history, a copyable referral link), a refused token, and the
panel's preview following settings given in its query."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from app.db import db, utcnow
from app.loyalty import ledger, referrals, tiers
from app.loyalty.embed import mint_token
from tests.browser.support import goto, shot, sign_in_browser
from tests.loyalty.widget_helpers import SECRET, add_reward, make_member, open_program, woo_store


def test_the_embed_shows_a_members_balance_progress_and_history(page, session, monkeypatch):
    store = woo_store(session, "hats.example", SECRET)
    open_program(session, store, referrals_enabled=True, tiers=[
        {"name": "Bronze", "threshold": "0", "multiplier": "1"},
        {"name": "Gold", "threshold": "400", "multiplier": "2"}])
    member = make_member(session, store, "42", first_name="Wren", points=320)
    ledger.append(session, store.id, ledger.NewEntry(
        customer_id=member.id, kind="pending", points=40, status="pending",
        reason="Order #1002", source="order", key="order:1002:purchase",
        available_at=utcnow() + timedelta(days=14)))
    session.commit()
    add_reward(session, store, "€5 off", 300)
    add_reward(session, store, "€20 off", 1000, value=20)
    monkeypatch.setattr(tiers, "progress", lambda *a, **k: {
        "tier": "Bronze", "next_tier": "Gold", "basis": "spend", "value": "100.00",
        "needed": "400"})
    monkeypatch.setattr(referrals, "referral_url",
                        lambda shop, code: f"https://hats.example/?ref={code}")

    goto(page, f"/embed/rewards?token={mint_token(SECRET, store.id, '42')}", "embed")

    expect(page.locator("h2")).to_contain_text("Hi Wren")
    expect(page.locator('[data-sr="points-balance"]')).to_have_text("320")
    expect(page.locator('[data-sr="tier"]')).to_have_text("Bronze")
    assert page.locator(".sr-progress__bar").evaluate("e => e.style.width") == "25%"
    expect(page.locator(".sr-history__item")).to_have_count(2)
    expect(page.locator(".sr-history__item").first).to_contain_text("On the way: Order #1002")
    expect(page.locator(".sr-history__item").nth(1)).to_contain_text("Earned: Order #1001")
    expect(page.locator('[data-sr-reward] button:has-text("Redeem")')).to_have_count(1)
    expect(page.locator(".sr-needed")).to_have_text("680 more points")
    referral = page.locator("#sr-referral-link")
    expect(referral).to_have_value(f"https://hats.example/?ref={member_code(member.id)}")
    page.set_viewport_size({"width": 375, "height": 812})
    shot(page, "embed-mobile")


def member_code(customer_id: int) -> str:
    from app.loyalty.models import LoyaltyMember

    return db.session.get(LoyaltyMember, customer_id).referral_code


def test_a_refused_token_shows_nothing_but_what_to_do(page, session):
    store = woo_store(session, "hats.example", SECRET)
    make_member(session, store, "42", first_name="Wren", points=320)
    token = mint_token("a-guessed-secret", store.id, "42")

    goto(page, f"/embed/rewards?token={token}", "embed-refused", expect_status=403)

    expect(page.locator("body")).to_contain_text("not valid or has expired")
    expect(page.locator("body")).not_to_contain_text("320")


def test_the_preview_shows_the_program_being_edited(page, shop):
    open_program(db.session, shop)
    add_reward(db.session, shop, "$5 off", 200)
    sign_in_browser(page, shop)

    goto(page, "/admin/loyalty/preview", "preview-saved")
    expect(page.locator(".sr-ribbon")).to_contain_text("sample member")
    expect(page.locator('[data-sr="points-balance"]')).to_have_text("310")

    goto(page, "/admin/loyalty/preview?points_per_unit=5&signup_points=0&first_order_points=0"
               "&tiers-0-name=Member&tiers-0-threshold=0&tiers-1-name=VIP"
               "&tiers-1-threshold=500&tiers-1-multiplier=2", "preview-edited")
    expect(page.locator('[data-sr="points-balance"]')).to_have_text("400")
    expect(page.locator('[data-sr-way="purchase"]')).to_contain_text("5 points for every $1.00")
    expect(page.locator(".sr-progress")).to_be_visible()
    expect(page.locator('[data-sr-reward] button')).to_be_disabled()
