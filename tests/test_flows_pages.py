"""The panel's flow pages through the test client: the list with its figures, creating a
flow, the editor's forms (saved, refused next to the field, rows added, moved and removed),
status changes, the JSON view, and the profile's Flows card. The email editor, the outbox
and suppressions are tests/test_flow_email_pages.py."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from app.flows.models import Flow, FlowVersion
from tests.customer_helpers import customer_row
from tests.flows_helpers import (  # noqa: F401 - `panel_fixture`: the `panel` fixture
    a_flow,
    a_message,
    a_run,
    panel_fixture,
    post,
    text_of,
)


def editor_form(client, flow_id: int) -> dict[str, Any]:
    """The editor's fields as the browser would post them (selects at their chosen option)."""
    page = client.get(f"/admin/flows/{flow_id}").get_data(as_text=True)
    form = page[page.index('id="flow-form"'):page.index("</form>", page.index('id="flow-form"'))]
    data: dict[str, Any] = {}
    for match in re.finditer(r"<input([^>]*)>", form):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', match.group(1)))
        name = attrs.get("name")
        if not name or attrs.get("type") == "submit":
            continue
        if attrs.get("type") == "checkbox":
            if " checked" in match.group(1):
                data[name] = attrs.get("value", "y")
            continue
        data[name] = html.unescape(attrs.get("value", ""))
    for match in re.finditer(r'<select([^>]*)>(.*?)</select>', form, re.S):
        name = re.search(r'name="([^"]+)"', match.group(1)).group(1)
        chosen = [html.unescape(a or b) for a, b in re.findall(
            r'<option selected value="([^"]*)"|<option value="([^"]*)" selected',
            match.group(2))]
        if " multiple" in match.group(1):
            data[name] = chosen
        else:
            first = re.search(r'<option[^>]*value="([^"]*)"', match.group(2)).group(1)
            data[name] = chosen[0] if chosen else html.unescape(first)
    for match in re.finditer(r'<textarea([^>]*)>(.*?)</textarea>', form, re.S):
        name = re.search(r'name="([^"]+)"', match.group(1)).group(1)
        data[name] = html.unescape(match.group(2)).lstrip("\n")
    return data


def test_the_list_shows_each_flow_with_status_and_figures(panel, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    response = panel.get("/admin/flows")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    row = page[page.index(f'id="flow-{flow.id}"'):]
    row = row[:row.index("</tr>")]
    assert "Welcome" in row and "Draft" in row and "Customer created" in row
    for figure in ("entered", "sent", "opened", "clicked", "converted", "revenue",
                   "unsubscribed"):
        assert f'data-figure="{figure}"' in row
    assert 'href="/admin/flows"' in page  # the nav's Flows entry
    # no sender address yet: the page says flows cannot send
    assert 'id="sender-missing"' in page
    from app.settings.service import update_settings

    update_settings(session, shop, {"sender_email": "hello@sticky-test.example"})
    session.commit()
    assert 'id="sender-missing"' not in panel.get("/admin/flows").get_data(as_text=True)


def test_creating_a_flow_opens_its_editor_and_a_blank_name_is_refused(panel, session, shop):
    response = post(panel, "/admin/flows", {"name": "Thanks", "trigger_event": "order_placed"},
                    token_from="/admin/flows")
    assert response.status_code == 302
    flow = session.scalar(select(Flow).where(Flow.name == "Thanks"))
    assert response.headers["Location"].endswith(f"/admin/flows/{flow.id}")
    assert flow.definition["trigger"] == {"type": "event", "event": "order_placed"}
    refused = post(panel, "/admin/flows", {"name": " ", "trigger_event": "order_placed"},
                   token_from="/admin/flows")
    assert refused.status_code == 400
    assert "a name of 1 to 120 characters" in text_of(refused).lower()


def test_the_editor_saves_a_wait_in_days_and_a_new_version(panel, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    data = editor_form(panel, flow.id)
    assert data["steps-0-wait_amount"] == "1" and data["steps-0-wait_unit"] == "hours"
    data.update({"steps-0-wait_amount": "2", "steps-0-wait_unit": "days",
                 "steps-1-subject": "Hello {{ customer.first_name }}", "holdout_percent": "10"})
    response = post(panel, f"/admin/flows/{flow.id}", data)
    assert response.status_code == 302, text_of(response)[:2000]
    session.expire_all()
    saved = session.get(Flow, flow.id)
    assert saved.version == 2 and saved.holdout_percent == 10
    assert saved.definition["steps"][0] == {"id": "wait1", "type": "wait", "minutes": 2880}
    assert saved.definition["steps"][1]["subject"] == "Hello {{ customer.first_name }}"
    # the email's HTML was kept: the editor only shows its subject
    assert "welcome to {{ shop.name }}" in saved.definition["steps"][1]["html"]


def test_the_editor_offers_every_time_as_a_reentry_rule(panel, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    data = editor_form(panel, flow.id)
    data.update({"reentry": "always", "reentry_days": ""})
    response = post(panel, f"/admin/flows/{flow.id}", data)
    assert response.status_code == 302, text_of(response)[:2000]
    session.expire_all()
    assert session.get(Flow, flow.id).reentry_days == 0
    assert editor_form(panel, flow.id)["reentry"] == "always"


def test_a_bad_wait_and_a_bad_filter_show_next_to_their_fields(panel, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    data = editor_form(panel, flow.id)
    data.update({"steps-0-wait_amount": "soon", "op": ""})
    data.update({"flow_filters-0-field": "orders_count", "flow_filters-0-op": "in",
                 "flow_filters-0-value": ""})
    response = post(panel, f"/admin/flows/{flow.id}", data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="steps-0-wait_amount-error"' in page
    assert "whole number of minutes" in page
    session.expire_all()
    assert session.get(Flow, flow.id).version == 1


def test_steps_are_added_moved_and_removed_before_saving(panel, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    data = editor_form(panel, flow.id)
    # add a split at the end, then a tag on its yes branch
    response = post(panel, f"/admin/flows/{flow.id}",
                    {**data, "op": "add::", "new_type::": "split"})
    assert response.status_code == 200
    assert "Not saved yet" in text_of(response)
    page = response.get_data(as_text=True)
    split_id = re.search(r'id="step-(s\d+)"[^>]*data-step-type="split"', page).group(1)
    data = editor_form_from(page)
    response = post(panel, f"/admin/flows/{flow.id}",
                    {**data, "op": f"add:{split_id}:yes", f"new_type:{split_id}:yes": "tag"})
    data = editor_form_from(response.get_data(as_text=True))
    # move the email above the wait, then save
    data = editor_form_from(post(panel, f"/admin/flows/{flow.id}",
                                 {**data, "op": "up:mail1"}).get_data(as_text=True))
    response = post(panel, f"/admin/flows/{flow.id}", data)
    assert response.status_code == 302, text_of(response)[:3000]
    session.expire_all()
    steps = session.get(Flow, flow.id).definition["steps"]
    assert [s["type"] for s in steps] == ["email", "wait", "split"]
    assert [s["type"] for s in steps[2]["yes"]] == ["tag"] and steps[2]["no"] == []
    # remove the split (and its branch) again
    data = editor_form(panel, flow.id)
    data = editor_form_from(post(panel, f"/admin/flows/{flow.id}",
                                 {**data, "op": f"remove:{split_id}"}).get_data(as_text=True))
    assert post(panel, f"/admin/flows/{flow.id}", data).status_code == 302
    session.expire_all()
    assert [s["id"] for s in session.get(Flow, flow.id).definition["steps"]] == [
        "mail1", "wait1"]


def editor_form_from(page: str) -> dict[str, Any]:
    class Fake:
        def get(self, path):
            class R:
                def get_data(self, as_text=True):
                    return page
            return R()
    return editor_form(Fake(), 0)


def test_go_live_pause_and_resume(panel, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    path = f"/admin/flows/{flow.id}/status"
    for wanted, words in (("live", "is live"), ("paused", "is paused"), ("live", "nothing is "
                                                                                  "sent twice")):
        response = post(panel, path, {"status": wanted}, token_from=f"/admin/flows/{flow.id}")
        assert response.status_code == 302
        page = panel.get(f"/admin/flows/{flow.id}")
        assert words in text_of(page)
        session.expire_all()
        assert session.get(Flow, flow.id).status == wanted


def test_the_json_view_saves_and_names_errors_by_path(panel, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    bad = ('{"trigger": {"type": "event", "event": "order_placed"}, '
           '"steps": [{"type": "wait", "minutes": -1}]}')
    response = post(panel, f"/admin/flows/{flow.id}/json", {"definition": bad},
                    token_from=f"/admin/flows/{flow.id}")
    assert response.status_code == 400
    assert "steps.0.minutes" in text_of(response)
    good = bad.replace("-1", "5")
    response = post(panel, f"/admin/flows/{flow.id}/json", {"definition": good},
                    token_from=f"/admin/flows/{flow.id}")
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Flow, flow.id).definition["steps"][0]["minutes"] == 5


def test_backtest_button_answers_with_counts_and_saves_nothing(panel, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    response = post(panel, f"/admin/flows/{flow.id}/backtest", {},
                    token_from=f"/admin/flows/{flow.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="backtest-counts"' in page
    assert 'data-count="triggered"' in page and 'id="backtest-steps"' in page
    assert session.scalar(select(FlowVersion.version).where(
        FlowVersion.flow_id == flow.id).order_by(FlowVersion.version.desc())) == 1


def test_another_stores_flow_and_a_missing_step_are_404_pages(panel, session, shop,
                                                              other_shop):
    theirs = a_flow(session, other_shop)
    mine = a_flow(session, shop)
    session.commit()
    assert panel.get(f"/admin/flows/{theirs.id}").status_code == 404
    assert panel.get(f"/admin/flows/{theirs.id}/steps/mail1").status_code == 404
    assert panel.get(f"/admin/flows/{mine.id}/steps/wait1").status_code == 404


def test_the_profile_has_a_flows_card_with_runs_and_messages(panel, session, shop):
    ada = customer_row(session, shop, email="ada@example.com")
    flow = a_flow(session, shop)
    run = a_run(session, flow, ada, status="exited", exit_reason="order placed",
                step_id=None, due_at=None)
    a_message(session, flow, ada, run=run, status="skipped",
              reason="smart sending: emailed 2 hours ago", sent_at=None)
    session.commit()
    response = panel.get(f"/admin/customers/{ada.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    card = text_of(panel.get(f"/admin/customers/{ada.id}"))
    assert 'id="flow-runs"' in page and 'id="flow-messages"' in page
    assert "order placed" in card and "Exited" in card
    assert "Skipped" in card and "smart sending: emailed 2 hours ago" in card
    # and the timeline tells it in its place
    timeline = page[page.index('id="timeline"'):page.index('id="flows"')]
    assert "Flow email “Welcome, Ada” from Welcome: skipped" in html.unescape(timeline)


def test_saving_an_unchanged_editor_makes_no_version_and_keeps_what_it_does_not_show(
        panel, session, shop):
    # given flows shaped like the built-ins: two trigger events, a step's own keys, a split,
    # a discount with a minimum order, and a lapsed trigger
    welcome = a_flow(session, shop, trigger={"type": "event", "event": [
        "email_marketing_changed", "customer_created"]}, steps=[
        {"id": "w", "type": "wait", "minutes": 4320},
        {"id": "m", "type": "email", "subject": "Hi", "html": "<p>Hi</p>", "text": None,
         "template": "welcome_1", "preheader": "Welcome"},
        {"id": "sp", "type": "split", "condition": {"field": "orders_count", "op": "gte",
                                                    "value": 1},
         "yes": [{"id": "d", "type": "discount", "kind": "percentage", "value": 15,
                  "expires_after_days": 14, "minimum_order": "20.00"}],
         "no": [{"id": "t", "type": "tag", "tag": "never-bought"}]}])
    lapsed = a_flow(session, shop, name="Win-back", trigger={
        "type": "lapsed", "factor": 2, "min_days": 45, "max_days": 365})
    session.commit()
    for flow in (welcome, lapsed):
        before = dict(session.get(Flow, flow.id).definition)
        # when the editor is saved as it was drawn
        response = post(panel, f"/admin/flows/{flow.id}", editor_form(panel, flow.id))
        assert response.status_code == 302, text_of(response)[:2000]
        # then nothing changed
        session.expire_all()
        saved = session.get(Flow, flow.id)
        assert saved.version == 1
        assert saved.definition == before


def test_the_editor_switches_a_lapsed_trigger_to_churn_risk_and_back(panel, session, shop):
    flow = a_flow(session, shop, name="Win-back", trigger={
        "type": "lapsed", "factor": 2, "min_days": 45, "max_days": 365})
    session.commit()
    form = editor_form(panel, flow.id)
    assert form["lapsed_basis"] == "interval" and form["churn_above"] == "0.5"

    # when the merchant picks churn risk above 0.7
    response = post(panel, f"/admin/flows/{flow.id}",
                    {**form, "lapsed_basis": "churn_risk", "churn_above": "0.7"})
    assert response.status_code == 302, text_of(response)[:2000]
    session.expire_all()
    trigger = session.get(Flow, flow.id).definition["trigger"]
    assert trigger == {"type": "lapsed", "factor": 2, "min_days": 45, "max_days": 365,
                       "basis": "churn_risk", "above": 0.7}

    # a threshold outside 0..1 is refused beside its field, and nothing is saved
    form = editor_form(panel, flow.id)
    assert form["lapsed_basis"] == "churn_risk" and form["churn_above"] == "0.7"
    response = post(panel, f"/admin/flows/{flow.id}", {**form, "churn_above": "1.5"})
    assert response.status_code == 400
    assert "The flow was not saved" in text_of(response)
    page = response.get_data(as_text=True)
    field = page[page.index('name="churn_above"'):]
    assert "a churn risk between 0 and 1" in field[:1500].lower()
    session.expire_all()
    assert session.get(Flow, flow.id).version == 2

    # and back to the interval rule: the threshold goes with it
    response = post(panel, f"/admin/flows/{flow.id}", {**form, "lapsed_basis": "interval"})
    assert response.status_code == 302
    session.expire_all()
    trigger = session.get(Flow, flow.id).definition["trigger"]
    assert trigger["basis"] == "interval" and "above" not in trigger


@pytest.mark.parametrize("changes", [
    {"op": "add:bogus::"}, {"op": "up:nowhere"}, {"op": "remove_filter:flow_filters:99"},
    {"op": "add:s9:maybe", "new_type:s9:maybe": "tag"}, {"op": "add_filter:elsewhere"},
    {"trigger_type": "someday"}, {"trigger_event": ["no_such_event"]},
    {"steps-0-type": "teleport"}, {"steps-0-wait_amount": "99999999999999"},
    {"steps-0-wait_mode": "until", "steps-0-until": "25:99"},
    {"holdout_percent": "half", "reentry": "days", "reentry_days": "-3"},
    {"steps-50-type": "wait", "steps-50-id": "x"},
    {"flow_filters-0-field": "__class__", "flow_filters-0-op": "eq",
     "flow_filters-0-value": "1"},
])
def test_odd_editor_posts_are_answered_with_a_page_never_a_500(panel, session, shop, changes):
    flow = a_flow(session, shop)
    session.commit()
    data = {**editor_form(panel, flow.id), **changes}
    response = post(panel, f"/admin/flows/{flow.id}", data)
    assert response.status_code in (200, 302, 400), response.status_code
    if response.status_code == 400:
        assert "The flow was not saved" in text_of(response)


def test_a_split_condition_in_json_that_is_not_json_is_refused_beside_it(panel, session,
                                                                         shop):
    flow = a_flow(session, shop, steps=[{"id": "sp", "type": "split", "condition": {
        "any": [{"field": "orders_count", "op": "eq", "value": 0},
                {"field": "tags", "op": "contains", "value": "vip"}]}, "yes": [], "no": []}])
    session.commit()
    data = editor_form(panel, flow.id)
    assert '"any"' in data["steps-0-condition_json"]
    response = post(panel, f"/admin/flows/{flow.id}", {**data,
                                                       "steps-0-condition_json": "{nope"})
    assert response.status_code == 400
    assert 'id="steps-0-condition_json-error"' in response.get_data(as_text=True)


def test_the_editor_lists_the_flows_recipients(panel, session, shop):
    ada = customer_row(session, shop, email="ada@example.com")
    flow = a_flow(session, shop)
    a_message(session, flow, ada, run=a_run(session, flow, ada))
    session.commit()
    page = panel.get(f"/admin/flows/{flow.id}").get_data(as_text=True)
    table = page[page.index('id="recipients-table"'):]
    assert "ada@example.com" in table[:table.index("</table>")]
