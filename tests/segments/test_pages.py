"""`/admin/segments`: the list with live counts, the builder without JavaScript (add rows and
groups, save, errors next to their row), the JSON preview, delete with confirmation, the
customer list's segment selector."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.segments.models import Segment
from app.segments.service import create_segment
from tests.flows_helpers import panel_fixture, post, text_of  # noqa: F401 - a fixture
from tests.segments.support import person, store


@pytest.fixture
def buyers(session, shop):
    now = utcnow()
    rows = store(session, shop, [
        person(total_spent=Decimal("150"), orders_count=2, last_order_at=now - timedelta(days=3),
               country_code="FR", rfm_segment="Champions"),
        person(total_spent=Decimal("120"), orders_count=1, last_order_at=now - timedelta(days=200),
               country_code="DE"),
        person(total_spent=Decimal("20"), orders_count=1, last_order_at=now - timedelta(days=1),
               country_code="FR"),
    ])
    for row, name in zip(rows, ("Ada", "Bob", "Cy"), strict=True):
        row.first_name = name
    session.commit()
    return rows


def rows_form(*rows, match="all", group_match="all", name="Big spenders"):
    data = {"name": name, "match": match, "groups-0-match": group_match}
    for i, (field, op, value) in enumerate(rows):
        data.update({f"groups-0-rows-{i}-field": field, f"groups-0-rows-{i}-op": op,
                     f"groups-0-rows-{i}-value": value})
    return data


def test_the_list_shows_each_segment_with_its_count_now(panel, session, shop, buyers):
    create_segment(session, shop, {"name": "Big spenders", "rules": {"all": [
        {"field": "total_spent", "op": "gte", "value": "100"}]}})
    session.commit()
    page = panel.get("/admin/segments")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = text_of(page)
    assert "Big spenders" in text and "RFM: Champions" in text
    big = session.scalar(select(Segment).where(Segment.name == "Big spenders"))
    assert f'id="segment-{big.id}"' in html
    row = html.split(f'id="segment-{big.id}"')[1].split("</tr>")[0]
    assert 'data-count="2"' in row
    assert f"/admin/customers?segment={big.id}" in row
    assert "Segments" in text_of(panel.get("/admin"))  # in the navigation


def test_the_builder_adds_rows_saves_and_shows_the_count(panel, session, shop, buyers):
    # without JavaScript: "Add condition" posts the form back with one more row
    page = post(panel, "/admin/segments/new", {**rows_form(("total_spent", "gte", "100")),
                                               "action": "add_row:0"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="groups-0-rows-1-field"' in html
    assert 'id="segment-count" aria-live="polite">2<' in html  # the blank row is left out
    # when saved with a second condition
    saved = post(panel, "/admin/segments/new", {
        **rows_form(("total_spent", "gte", "100"), ("country_code", "eq", "fr")),
        "action": "save"}, token_from="/admin/segments/new")
    assert saved.status_code == 302
    segment = session.scalar(select(Segment).where(Segment.name == "Big spenders"))
    assert segment.rules == {"all": [{"all": [
        {"field": "total_spent", "op": "gte", "value": "100"},
        {"field": "country_code", "op": "eq", "value": "FR"}]}]}
    # then its page counts one customer (Ada) and links to the list and the export
    page = panel.get(f"/admin/segments/{segment.id}")
    html = page.get_data(as_text=True)
    assert 'id="segment-count" aria-live="polite">1<' in html
    assert "Ada" in text_of(page) and "Bob" not in text_of(page)
    listed = text_of(panel.get(f"/admin/customers?segment={segment.id}"))
    assert "Ada" in listed and "Bob" not in listed and "Cy" not in listed
    export = panel.get(f"/admin/customers/export.csv?segment={segment.id}")
    assert export.headers["X-Total-Rows"] == "1"


def test_a_bad_value_is_refused_next_to_its_row(panel, session, shop, buyers):
    page = post(panel, "/admin/segments/new", {
        **rows_form(("total_spent", "gte", "100"), ("last_order_at", "more_than_days_ago",
                                                    "soon")), "action": "save"})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    error = html.split('id="groups-0-rows-1-value-error"')[1].split("</div>")[0]
    assert "Must be a whole number." in error
    assert session.scalar(select(Segment.id).where(Segment.name == "Big spenders")) is None


def test_any_of_groups(panel, session, shop, buyers):
    data = {"name": "FR or recent", "match": "any",
            "groups-0-match": "all", "groups-0-rows-0-field": "country_code",
            "groups-0-rows-0-op": "eq", "groups-0-rows-0-value": "FR",
            "groups-1-match": "all", "groups-1-rows-0-field": "last_order_at",
            "groups-1-rows-0-op": "more_than_days_ago", "groups-1-rows-0-value": "100",
            "action": "refresh"}
    page = post(panel, "/admin/segments/new", data)
    assert 'id="segment-count" aria-live="polite">3<' in page.get_data(as_text=True)


def test_the_preview_endpoint_answers_json_for_the_live_count(panel, session, shop, buyers):
    token_page = "/admin/segments/new"
    answer = post(panel, "/admin/segments/preview",
                  rows_form(("country_code", "eq", "FR")), token_from=token_page).get_json()
    assert answer["count"] == 2
    assert [c["name"] for c in answer["customers"]] == ["Cy", "Ada"]  # latest buyers first
    refused = post(panel, "/admin/segments/preview",
                   rows_form(("churn_risk", "gt", "2")), token_from=token_page).get_json()
    assert refused["count"] is None
    assert "from 0 to 1" in refused["errors"]["groups-0-rows-0-value"]


def test_delete_asks_first_and_built_ins_cannot_be_deleted(panel, session, shop, buyers):
    segment = create_segment(session, shop, {"name": "Old", "rules": {"all": []}})
    session.commit()
    confirm = panel.get(f"/admin/segments/{segment.id}/delete")
    assert "This cannot be undone" in text_of(confirm)
    done = post(panel, f"/admin/segments/{segment.id}/delete", {},
                token_from=f"/admin/segments/{segment.id}/delete")
    assert done.status_code == 302
    assert session.get(Segment, segment.id) is None
    panel.get("/admin/segments")  # the built-ins
    builtin = session.scalar(select(Segment).where(Segment.builtin_key == "rfm:Champions"))
    assert panel.get(f"/admin/segments/{builtin.id}/delete").status_code == 400
    page = panel.get(f"/admin/segments/{builtin.id}")
    assert page.status_code == 200 and 'id="segment-form"' not in page.get_data(as_text=True)


def test_another_stores_segment_is_not_found(panel, session, other_shop):
    theirs = create_segment(session, other_shop, {"name": "Theirs", "rules": {"all": []}})
    session.commit()
    assert panel.get(f"/admin/segments/{theirs.id}").status_code == 404
    assert panel.get(f"/admin/customers?segment={theirs.id}").status_code == 400


def test_the_customer_list_offers_the_segments(panel, session, shop, buyers):
    segment = create_segment(session, shop, {"name": "Big", "rules": {"all": [
        {"field": "total_spent", "op": "gte", "value": "100"}]}})
    session.commit()
    html = panel.get("/admin/customers").get_data(as_text=True)
    assert f'<option value="{segment.id}">Big</option>' in html
    page = panel.get(f"/admin/customers?segment={segment.id}")
    assert "Segment: Big" in text_of(page)


def test_the_flow_editor_offers_the_segment_field_and_names_the_segments(panel, session,
                                                                         shop):
    from tests.flows_helpers import a_flow

    big = create_segment(session, shop, {"name": "Big spenders", "rules": {"all": []}})
    flow = a_flow(session, shop, flow_filters=[
        {"field": "segment", "op": "in", "value": [big.id]}])
    session.commit()
    html = panel.get(f"/admin/flows/{flow.id}").get_data(as_text=True)
    row = html.split('id="flow_filters-row-0"')[1].split("</div>\n  </div>")[0]
    assert re.search(r'<option selected value="segment">Segment</option>', row), row
    assert f'value="{big.id}"' in row
    numbers = html.split('id="segment-numbers"')[1].split("</p>")[0]
    assert f"<strong>{big.id}</strong> Big spenders" in numbers
