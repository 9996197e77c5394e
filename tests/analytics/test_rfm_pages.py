"""The RFM page (/admin/analytics/rfm), the profile's RFM card, "Recompute now", and the
customer list's `segment` filter."""

from __future__ import annotations

import html
import re

from markupsafe import escape

from app.analytics.rfm import refresh_shop
from app.analytics.rfm_models import RfmCutoffs
from app.profiles.rfm_rules import SEGMENTS
from tests.analytics.rfm_support import AS_OF, hand_store
from tests.customer_helpers import api_key_headers, csrf_from, sign_in

PAGE = "/admin/analytics/rfm"


def row_of(page: str, segment: str) -> dict:
    match = re.search(rf'<tr data-segment="{re.escape(str(escape(segment)))}">(.*?)</tr>',
                      page, re.S)
    assert match, f"no row for {segment}"
    cells = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', match.group(1)))
    return {k: html.unescape(v).strip() for k, v in cells.items()} | {"html": match.group(1)}


def test_the_page_shows_each_segment_with_its_share_revenue_and_link(client, session, shop):
    hand_store(session, shop)
    refresh_shop(session, shop.id, now=AS_OF)
    session.commit()
    sign_in(client, session, shop)

    response = client.get(PAGE)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    # Champions: A (100) and B (80) of 10 customers who spent 480 in all
    champions = row_of(page, "Champions")
    assert champions["customers"] == "2" and champions["share"] == "20.0%"
    assert champions["revenue_share"] == "37.5%"          # 180 / 480
    assert champions["average_spent"] == "$90.00"
    assert 'href="/admin/customers?segment=Champions"' in champions["html"]
    # About to Sleep: F (40) and H (50)
    sleep = row_of(page, "About to Sleep")
    assert (sleep["customers"], sleep["revenue_share"], sleep["average_spent"]) == (
        "2", "18.8%", "$45.00")
    # an empty segment is listed, without a link
    new = row_of(page, "New")
    assert new["customers"] == "0" and new["average_spent"] == "—" and "href" not in new["html"]
    for name in SEGMENTS:
        assert f'data-segment="{escape(name)}"' in page
    # the R x F grid: R 4 F 1 is C alone; R 2 F 1 holds E, F and H
    assert re.search(r'data-r="4" data-f="1"[^>]*>1</td>', page)
    assert re.search(r'data-r="2" data-f="1"[^>]*>3</td>', page)
    # the rule table and the cut points, and when they were computed
    assert re.search(r'data-r="1" data-fm="1">Lost</td>', page)
    assert re.search(r'data-r="5" data-fm="1">New</td>', page)
    assert "≥ $80.00" in page and "≤ 90 days" in page
    assert "Cut points last computed" in page and "over 10 customers" in page


def test_an_empty_store_is_explained(client, session, shop):
    sign_in(client, session, shop)
    page = client.get(PAGE).get_data(as_text=True)
    assert "No customers to score yet" in page and "Not computed yet" in page
    assert 'id="rfm-segments-table"' not in page
    assert 'id="rfm-rules-table"' in page  # the rules are explained all the same


def test_recompute_now_scores_the_store(client, session, shop):
    hand_store(session, shop)
    sign_in(client, session, shop)
    assert "Not scored yet" in client.get(PAGE).get_data(as_text=True)
    # without the CSRF token: refused, nothing computed
    assert client.post(PAGE + "/refresh").status_code == 400
    assert session.get(RfmCutoffs, shop.id) is None

    response = client.post(PAGE + "/refresh", data={"csrf_token": csrf_from(client, PAGE)},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Scores recomputed for 10 customers" in page
    session.expire_all()
    assert session.get(RfmCutoffs, shop.id).customers_scored == 10
    assert row_of(page, "Champions")["customers"] == "2"


def test_the_profile_shows_the_customers_scores_and_segment(client, session, shop):
    rows = hand_store(session, shop)
    refresh_shop(session, shop.id, now=AS_OF)
    session.commit()
    sign_in(client, session, shop)
    page = client.get(f"/admin/customers/{rows['D'].id}").get_data(as_text=True)
    card = page[page.index('id="rfm"'):]
    assert re.search(r'id="rfm-segment">Loyal<', card)
    assert [re.search(rf'id="rfm-{d}">(\d)<', card).group(1) for d in "rfm"] == ["4", "4", "2"]
    assert "= 3." in card  # FM = (4 + 2) // 2
    page = client.get(f"/admin/customers/{rows['nobody'].id}").get_data(as_text=True)
    assert 'id="rfm-none"' in page


def test_the_customer_list_filters_by_segment_and_refuses_an_unknown_one(client, session,
                                                                          shop):
    rows = hand_store(session, shop)
    refresh_shop(session, shop.id, now=AS_OF)
    session.commit()
    headers = api_key_headers(session, shop)
    body = client.get("/api/customers?segment=about%20to%20sleep", headers=headers).get_json()
    assert sorted(c["id"] for c in body["customers"]) == sorted([rows["F"].id, rows["H"].id])
    assert {c["rfm_segment"] for c in body["customers"]} == {"About to Sleep"}

    response = client.get("/api/customers?segment=VIP", headers=headers)
    assert response.status_code == 400
    assert ("Choose a saved segment, or one of the RFM segments: Champions, Loyal"
            in response.get_data(as_text=True))

    sign_in(client, session, shop)
    response = client.get("/admin/customers?segment=VIP")
    assert response.status_code == 400
    assert "or one of the RFM segments" in html.unescape(response.get_data(as_text=True))
    page = client.get("/admin/customers?segment=Lost").get_data(as_text=True)
    assert f"/admin/customers/{rows['I'].id}\"" in page
    assert f"/admin/customers/{rows['A'].id}\"" not in page
