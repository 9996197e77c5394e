"""The Loyalty pages with the test client: the overview and its switch, the program form
(saved, refused next to the field with nothing saved, tier rows added and removed without
JavaScript, CSRF), the rewards catalogue, the members list, the customer's Loyalty card and
its manual adjustment, the dashboard's card, and the embedded door."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select

from app.accounts.service import create_account, link_account_to_shop
from app.crypto import encrypt
from app.db import db, utcnow
from app.loyalty import ledger
from app.loyalty.models import LedgerEntry, LoyaltyProgramVersion, LoyaltyReward
from app.loyalty.program import read_program, save_program
from app.profiles.models import Customer
from tests.test_accounts import EMAIL, PASSWORD, csrf_from, log_in
from tests.test_panel_shell import embedded_url
from tests.test_shopify_tokens import session_token

PROGRAM_FORM = {
    "enabled": "y", "points_per_unit": "2", "award_on": "paid", "pending_days": "14",
    "signup_points": "50", "first_order_points": "0", "birthday_points": "100",
    "negative_balance": "allow", "expiry_days": "", "expiry_warning_days": "14",
    "tier_basis": "spend", "tier_period": "rolling_12_months",
    "tiers-0-name": "Silver", "tiers-0-threshold": "200", "tiers-0-multiplier": "1.25",
    "tiers-0-perks": "", "referral_advocate_points": "0", "referral_friend_kind": "fixed_amount",
    "referral_friend_value": "10", "referral_friend_minimum_order": "",
    "referral_weekly_ip_limit": "10",
}


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def field_error(page: str, field_id: str) -> str:
    match = re.search(rf'id="{re.escape(field_id)}-error">(.*?)</div>', page, re.S)
    assert match, f"no error next to {field_id}"
    return text_of(match.group(1))


def post(client, path: str, data: dict, page: str | None = None):
    return client.post(path, data={**data, "csrf_token": csrf_from(client, page or path)})


@pytest.fixture
def panel(client, session, shop):
    """A browser signed in to the standalone panel with `shop` selected."""
    account = create_account(session, EMAIL, PASSWORD)
    link_account_to_shop(session, account.id, shop.id)
    session.commit()
    log_in(client, EMAIL, PASSWORD)
    client.post("/admin/stores/select", data={"shop_id": shop.id,
                                              "csrf_token": csrf_from(client, "/admin/stores")})
    return client


@pytest.fixture
def embedded(session, shop):
    """The test store with a usable expiring offline token: opening the app calls nobody."""
    shop.access_token_encrypted = encrypt("shpat_live")
    shop.refresh_token_encrypted = encrypt("shprt_live")
    shop.access_token_expires_at = utcnow() + timedelta(hours=1)
    shop.refresh_token_expires_at = utcnow() + timedelta(days=90)
    session.commit()
    return shop


@pytest.fixture
def customer(session, shop) -> Customer:
    row = Customer(shop_id=shop.id, platform_customer_id="207119551", email="ada@example.com",
                   first_name="Ada", last_name="Lovelace")
    session.add(row)
    session.commit()
    return row


# -- overview and switch ---------------------------------------------------------------------

def test_the_nav_has_loyalty_and_the_overview_says_the_program_is_off(panel):
    page = panel.get("/admin/loyalty").get_data(as_text=True)
    nav = page.split('<nav class="Frame-nav"', 1)[1].split("</nav>", 1)[0]
    link = re.search(r'<a href="/admin/loyalty"([^>]*)>(.*?)</a>', nav, re.S)
    assert link and "Loyalty" in link.group(2)
    assert 'aria-current="page"' in link.group(1)  # the section shows as the current one
    assert "The program is off." in page
    assert "no value per point" in page  # no fixed-amount reward yet
    for href in ("/admin/loyalty/program", "/admin/loyalty/rewards", "/admin/loyalty/members"):
        assert f'href="{href}"' in page


def test_the_switch_turns_the_program_on_and_off_as_versions(panel, shop):
    response = post(panel, "/admin/loyalty/enabled", {"enabled": "on"}, "/admin/loyalty")
    assert response.status_code == 302
    page = panel.get("/admin/loyalty").get_data(as_text=True)
    assert "The program is on." in page and "The loyalty program is on" in page
    post(panel, "/admin/loyalty/enabled", {"enabled": "off"}, "/admin/loyalty")
    db.session.rollback()
    assert read_program(db.session, shop.id).enabled is False
    assert read_program(db.session, shop.id).version == 2


def test_a_post_without_the_csrf_token_changes_nothing(panel, shop):
    assert panel.post("/admin/loyalty/enabled", data={"enabled": "on"}).status_code == 400
    assert panel.post("/admin/loyalty/program", data=PROGRAM_FORM).status_code == 400
    db.session.rollback()
    assert read_program(db.session, shop.id).version == 0


def test_the_overview_shows_liability_from_the_best_value_fixed_amount_reward(
        panel, session, shop, customer):
    session.add_all([
        LoyaltyReward(shop_id=shop.id, name="$5 off", kind="fixed_amount", value=5,
                      points_cost=500),
        LoyaltyReward(shop_id=shop.id, name="$20 off", kind="fixed_amount", value=20,
                      points_cost=1000),  # 2 cents a point: the best
        LoyaltyReward(shop_id=shop.id, name="$50 off", kind="fixed_amount", value=50,
                      points_cost=1000, active=False),  # inactive: not counted
        LoyaltyReward(shop_id=shop.id, name="50%", kind="percentage", value=50, points_cost=1)])
    ledger.adjust(session, shop.id, customer.id, 1500, "Welcome gift", created_by="test")
    session.commit()
    page = panel.get("/admin/loyalty").get_data(as_text=True)
    figures = text_of(page.split('id="loyalty-figures"', 1)[1].split("</section>", 1)[0])
    assert "Issued 1,500" in figures and "Outstanding 1,500" in figures
    assert "Liability $30.00" in figures  # 1,500 × $0.02
    assert "1 point is worth 0.02 USD" in figures and "$20 off" in figures


# -- the program form ------------------------------------------------------------------------

def test_the_program_form_saves_through_save_program(panel, shop):
    response = post(panel, "/admin/loyalty/program", PROGRAM_FORM)
    assert response.status_code == 302, text_of(response.get_data(as_text=True))[:2000]
    db.session.rollback()
    program = read_program(db.session, shop.id)
    assert (program.enabled, str(program.points_per_unit), program.pending_days,
            program.signup_points, program.expiry_days) == (True, "2", 14, 50, None)
    assert [(t.name, str(t.threshold), str(t.multiplier)) for t in program.tiers] == [
        ("Silver", "200", "1.25")]
    assert program.include_shipping is False and program.referrals_enabled is False
    page = panel.get("/admin/loyalty/program").get_data(as_text=True)
    assert "Program saved" in page and 'value="Silver"' in page
    assert "never rewrites points already given" in page


def test_bad_fields_are_refused_next_to_them_and_nothing_is_saved(panel, shop):
    save_program(db.session, shop.id, {"points_per_unit": "3"})
    db.session.commit()
    bad = {**PROGRAM_FORM, "points_per_unit": "lots", "pending_days": "400",
           "tiers-1-name": "Bronze", "tiers-1-threshold": "100", "tiers-1-multiplier": "1"}
    response = post(panel, "/admin/loyalty/program", bad)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The program was not saved" in page
    assert "points" in field_error(page, "points_per_unit")
    assert "from 0 to 365" in field_error(page, "pending_days")
    assert "higher than the tier before" in field_error(page, "tiers-1-threshold")
    assert 'value="lots"' in page  # what was typed stays in the field
    db.session.rollback()
    program = read_program(db.session, shop.id)
    assert (str(program.points_per_unit), program.version, program.tiers) == ("3", 1, ())


def test_a_tier_row_is_added_and_removed_without_javascript_and_without_saving(panel, shop):
    response = post(panel, "/admin/loyalty/program", {**PROGRAM_FORM, "add_tier": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Not saved yet" in page
    assert 'name="tiers-0-name"' in page and 'name="tiers-1-name"' in page
    assert 'value="Silver"' in page

    response = post(panel, "/admin/loyalty/program", {**PROGRAM_FORM, "remove_tier": "0"})
    page = response.get_data(as_text=True)
    assert 'name="tiers-0-name"' not in page and "No tiers" in page
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(LoyaltyProgramVersion)) == 0

    # an empty added row is not a tier when the form is saved
    response = post(panel, "/admin/loyalty/program", {
        **PROGRAM_FORM, "tiers-1-name": "", "tiers-1-threshold": "", "tiers-1-multiplier": "",
        "tiers-1-perks": ""})
    assert response.status_code == 302
    db.session.rollback()
    assert [t.name for t in read_program(db.session, shop.id).tiers] == ["Silver"]


def test_the_preview_iframe_is_given_the_forms_fields(panel):
    page = panel.get("/admin/loyalty/program").get_data(as_text=True)
    src = html.unescape(re.search(r'<iframe id="loyalty-preview"[^>]*src="([^"]+)"',
                                  page).group(1))
    parts = urlsplit(src)
    assert parts.path == "/admin/loyalty/preview"
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    assert query["points_per_unit"] == "1" and query["award_on"] == "paid"
    assert "enabled" not in query  # an unticked box is not sent, as a browser would not
    assert "csrf_token" not in query


# -- rewards ---------------------------------------------------------------------------------

def test_a_reward_is_added_edited_deactivated_and_deleted(panel, shop):
    form = {"name": "$5 off", "kind": "fixed_amount", "value": "5", "points_cost": "500",
            "minimum_order": "", "expires_after_days": "30", "active": "y"}
    response = post(panel, "/admin/loyalty/rewards/new", form)
    assert response.status_code == 302
    page = panel.get("/admin/loyalty/rewards").get_data(as_text=True)
    assert "$5 off" in page and "$5.00 off" in page and "After 30 days" in page
    reward = db.session.execute(select(LoyaltyReward)).scalar_one()

    response = post(panel, f"/admin/loyalty/rewards/{reward.id}",
                    {**form, "points_cost": "400", "minimum_order": "25"})
    assert response.status_code == 302
    post(panel, f"/admin/loyalty/rewards/{reward.id}/active", {"active": "off"},
         "/admin/loyalty/rewards")
    db.session.rollback()
    reward = db.session.get(LoyaltyReward, reward.id)
    assert (reward.points_cost, str(reward.minimum_order.normalize()), reward.active) == (
        400, "25", False)

    post(panel, f"/admin/loyalty/rewards/{reward.id}/delete", {}, "/admin/loyalty/rewards")
    page = panel.get("/admin/loyalty/rewards").get_data(as_text=True)
    assert "No rewards yet" in page
    assert panel.get(f"/admin/loyalty/rewards/{reward.id}").status_code == 404
    db.session.rollback()
    assert db.session.get(LoyaltyReward, reward.id).deleted_at is not None


def test_a_bad_reward_is_refused_next_to_its_fields(panel):
    response = post(panel, "/admin/loyalty/rewards/new", {
        "name": "", "kind": "percentage", "value": "150", "points_cost": "0",
        "minimum_order": "", "expires_after_days": ""}, "/admin/loyalty/rewards/new")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "name" in field_error(page, "name")
    assert "at most 100" in field_error(page, "value")
    assert "1 to 1,000,000" in field_error(page, "points_cost")
    assert db.session.scalar(select(func.count()).select_from(LoyaltyReward)) == 0


def test_another_stores_reward_is_not_found_on_the_pages(panel, session, other_shop):
    theirs = LoyaltyReward(shop_id=other_shop.id, name="Theirs", kind="fixed_amount", value=5,
                           points_cost=5)
    session.add(theirs)
    session.commit()
    assert panel.get(f"/admin/loyalty/rewards/{theirs.id}").status_code == 404
    response = post(panel, f"/admin/loyalty/rewards/{theirs.id}/delete", {},
                    "/admin/loyalty/rewards")
    assert response.status_code == 404
    assert "Theirs" not in panel.get("/admin/loyalty/rewards").get_data(as_text=True)


# -- members ---------------------------------------------------------------------------------

def test_members_are_listed_searched_and_sorted(panel, session, shop, other_shop):
    now = utcnow()
    people = [("Ada", "ada@example.com", 300), ("Grace", "grace@example.com", 900),
              ("Alan", "alan@example.com", 50)]
    for i, (name, email, points) in enumerate(people):
        row = Customer(shop_id=shop.id, email=email, email_normalized=email, first_name=name,
                       last_name="Test")
        session.add(row)
        session.flush()
        ledger.append(session, shop.id, ledger.NewEntry(
            customer_id=row.id, kind="earn", points=points, reason="Order", source="order",
            key=f"order:{i}:purchase", created_at=now - timedelta(days=10 - i)))
    outsider = Customer(shop_id=other_shop.id, email="zed@example.com",
                        email_normalized="zed@example.com", first_name="Zed")
    session.add(outsider)
    session.flush()
    ledger.append(session, other_shop.id, ledger.NewEntry(
        customer_id=outsider.id, kind="earn", points=5000, reason="Order", source="order",
        key="order:9:purchase"))
    session.commit()

    def names(query: str = "") -> list[str]:
        page = panel.get("/admin/loyalty/members" + query).get_data(as_text=True)
        table = page.split('id="members-table"', 1)[1].split("</table>", 1)[0]
        return re.findall(r'class="IndexTable-primary[^"]*"[^>]*>([^<]+) Test<', table)

    assert names() == ["Alan", "Grace", "Ada"]  # newest activity first
    assert names("?sort=-balance") == ["Grace", "Ada", "Alan"]
    assert names("?sort=balance") == ["Alan", "Ada", "Grace"]
    assert names("?sort=-earned") == ["Grace", "Ada", "Alan"]
    assert names("?q=GRACE@") == ["Grace"]
    assert names("?q=ada") == ["Ada"]
    page = panel.get("/admin/loyalty/members?q=zed").get_data(as_text=True)
    assert "No member matches" in page  # another store's member is never listed
    assert panel.get("/admin/loyalty/members?sort=colour").status_code == 400


# -- the customer's Loyalty card -------------------------------------------------------------

def test_an_adjustment_with_a_reason_shows_in_the_history_and_a_double_submit_is_one(
        panel, shop, customer):
    path = f"/admin/customers/{customer.id}"
    page = panel.get(path).get_data(as_text=True)
    key = re.search(r'<input id="key" name="key" type="hidden" value="([^"]+)">', page)
    assert key, "the form carries its idempotency key"
    form = {"points": "250", "reason": "Sorry for the late parcel", "key": key.group(1)}
    first = post(panel, f"{path}/points", form, path)
    again = post(panel, f"{path}/points", form, path)
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"].endswith("#loyalty")

    page = panel.get(path).get_data(as_text=True)
    assert "already made" in page  # the second submit's banner
    card = text_of(page.split('id="loyalty"', 1)[1].split("</section>", 1)[0])
    assert "Balance 250" in card
    assert "Adjusted +250 Sorry for the late parcel" in card and "by merchant@example.com" in card
    db.session.rollback()
    entries = db.session.execute(select(LedgerEntry)).scalars().all()
    assert [(e.kind, e.points, e.source) for e in entries] == [("adjust", 250, "merchant")]


def test_an_adjustment_without_a_reason_or_points_is_refused_next_to_the_fields(
        panel, shop, customer):
    path = f"/admin/customers/{customer.id}"
    response = post(panel, f"{path}/points", {"points": "ten", "reason": " ", "key": "k1"},
                    path)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "whole number" in field_error(page, "points")
    assert "reason" in field_error(page, "reason").lower()
    save_program(db.session, shop.id, {"negative_balance": "floor_zero"})
    db.session.commit()
    response = post(panel, f"{path}/points", {"points": "-5", "reason": "Oops", "key": "k2"},
                    path)
    assert response.status_code == 400
    assert "below zero" in field_error(response.get_data(as_text=True), "points")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_another_stores_customer_cannot_be_adjusted(panel, session, other_shop):
    theirs = Customer(shop_id=other_shop.id, email="zed@example.com")
    session.add(theirs)
    session.commit()
    response = post(panel, f"/admin/customers/{theirs.id}/points",
                    {"points": "5", "reason": "x", "key": "k3"}, "/admin/loyalty")
    assert response.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


# -- the dashboard ---------------------------------------------------------------------------

def test_the_dashboard_card_shows_only_once_the_program_was_ever_on(panel, shop, customer):
    assert 'id="loyalty-card"' not in panel.get("/admin").get_data(as_text=True)
    save_program(db.session, shop.id, {"enabled": True})
    save_program(db.session, shop.id, {"enabled": False})  # switched off again: still shown
    ledger.adjust(db.session, shop.id, customer.id, 120, "Gift", created_by="test")
    db.session.commit()
    page = panel.get("/admin").get_data(as_text=True)
    card = text_of(page.split('id="loyalty-card"', 1)[1].split("</section>", 1)[0])
    assert "Points issued 120" in card and "Outstanding 120" in card
    assert "no value per point" in card


# -- the embedded door -----------------------------------------------------------------------

def test_the_loyalty_pages_open_embedded_and_keep_the_shopify_parameters(
        client, embedded):
    token = session_token(embedded.domain)
    for path in ("/admin/loyalty", "/admin/loyalty/program", "/admin/loyalty/rewards",
                 "/admin/loyalty/members"):
        response = client.get(embedded_url(path, id_token=token))
        assert response.status_code == 200, path
    page = client.get(embedded_url("/admin/loyalty/program", id_token=token)).get_data(
        as_text=True)
    src = html.unescape(re.search(r'id="loyalty-preview"[^>]*src="([^"]+)"', page).group(1))
    assert "shop=sticky-test.myshopify.com" in src and "embedded=1" in src
    response = client.post(embedded_url("/admin/loyalty/enabled"),
                           data={"enabled": "on", "id_token": token})
    assert response.status_code == 302 and "embedded=1" in response.headers["Location"]
