"""`/api/flows` and `/api/messages`: shapes as DESIGN.md fixes them, errors by path with
nothing saved, versions, status changes, and another store's flows out of reach."""

from __future__ import annotations

from datetime import timedelta

import pytest
from openapi_spec_validator import validate
from sqlalchemy import func, select

from app.db import utcnow
from app.flows.models import FlowVersion, Message
from tests.customer_helpers import api_key_headers, customer_row
from tests.flows_helpers import a_flow, a_message, a_run, email_step

F_FIELDS = {"id", "key", "name", "status", "version", "trigger", "trigger_filters",
            "flow_filters", "steps", "holdout_percent", "reentry_days", "stats"}
STATS = {"entered", "sent", "opened", "clicked", "converted", "revenue"}
MESSAGE_FIELDS = {"id", "flow_id", "step_id", "to", "subject", "status", "reason", "sent_at",
                  "opened_at", "clicked_at"}


@pytest.fixture
def api(client, session, shop):
    headers = api_key_headers(session, shop)

    class Api:
        def get(self, path, **kw):
            return client.get(path, headers=headers, **kw)

        def post(self, path, body=None, **kw):
            return client.post(path, json=body, headers=headers, **kw)

        def put(self, path, body=None, **kw):
            return client.put(path, json=body, headers=headers, **kw)

    return Api()


def test_the_list_has_the_shape_of_f_with_figures(api, session, shop):
    # given a flow of the store
    flow = a_flow(session, shop)
    session.commit()
    # when the list is read
    response = api.get("/api/flows")
    # then every flow has F's fields, its steps and figures
    assert response.status_code == 200
    flows = response.get_json()["flows"]
    mine = next(f for f in flows if f["id"] == flow.id)
    assert F_FIELDS <= set(mine)
    assert STATS <= set(mine["stats"])
    assert mine["status"] == "draft" and mine["version"] == 1 and mine["key"] is None
    assert [s["type"] for s in mine["steps"]] == ["wait", "email"]
    assert mine["steps"][0] == {"id": "wait1", "type": "wait", "minutes": 60}
    assert mine["trigger"] == {"type": "event", "event": "customer_created"}


def test_creating_a_flow_gives_ids_to_its_steps_and_answers_201(api, session, shop):
    response = api.post("/api/flows", {
        "name": "Thank you", "trigger": {"type": "event", "event": "order_placed"},
        "flow_filters": [{"field": "orders_count", "op": "eq", "value": 1}],
        "steps": [{"type": "wait", "until": "09:30"}, email_step()],
        "holdout_percent": 10, "reentry_days": 30})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "Thank you" and body["status"] == "draft"
    assert [s["id"] for s in body["steps"]] == ["s1", "s2"]
    assert body["holdout_percent"] == 10 and body["reentry_days"] == 30
    assert api.get(f"/api/flows/{body['id']}").get_json() == body


def test_errors_are_given_by_path_and_nothing_is_saved(api, session, shop):
    response = api.post("/api/flows", {
        "name": "", "trigger": {"type": "event", "event": "order_placed"},
        "flow_filters": [{"field": "shoe_size", "op": "eq", "value": 1}],
        "steps": [{"type": "wait", "minutes": -5}, {"type": "teleport"}],
        "holdout_percent": 90})
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert set(errors) == {"name", "flow_filters.0.field", "steps.0.minutes", "steps.1.type",
                           "holdout_percent"}
    assert "shoe_size" in errors["flow_filters.0.field"]
    assert "minutes" in errors["steps.0.minutes"]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(FlowVersion)) == 0


def test_a_body_that_is_not_a_json_object_or_has_unknown_fields_is_a_400(api, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    assert api.post("/api/flows", data=b"{nope",
                    content_type="application/json").status_code == 400
    assert api.post("/api/flows", [1, 2]).status_code == 400
    response = api.put(f"/api/flows/{flow.id}", {"colour": "red"})
    assert response.status_code == 400
    assert "colour" in response.get_json()["errors"]


def test_a_put_of_what_was_read_changes_nothing_and_makes_no_version(api, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    body = api.get(f"/api/flows/{flow.id}").get_json()
    response = api.put(f"/api/flows/{flow.id}", body)
    assert response.status_code == 200
    assert response.get_json()["version"] == 1


def test_editing_steps_makes_a_new_version_and_status_goes_live_and_pauses(api, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    steps = api.get(f"/api/flows/{flow.id}").get_json()["steps"]
    steps[0]["minutes"] = 30
    edited = api.put(f"/api/flows/{flow.id}", {"steps": steps}).get_json()
    assert edited["version"] == 2 and edited["steps"][0]["minutes"] == 30
    assert api.put(f"/api/flows/{flow.id}", {"status": "live"}).get_json()["status"] == "live"
    paused = api.put(f"/api/flows/{flow.id}", {"status": "paused"}).get_json()
    assert paused["status"] == "paused" and paused["version"] == 2
    bad = api.put(f"/api/flows/{flow.id}", {"status": "asleep"})
    assert bad.status_code == 400 and "status" in bad.get_json()["errors"]


def test_a_bad_step_in_a_put_is_named_and_the_flow_keeps_its_version(api, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    response = api.put(f"/api/flows/{flow.id}", {"steps": [
        {"id": "wait1", "type": "wait", "until": "25:00"}]})
    assert response.status_code == 400
    assert "steps.0.until" in response.get_json()["errors"]
    assert api.get(f"/api/flows/{flow.id}").get_json()["version"] == 1


def test_a_template_reaching_python_internals_is_refused_at_its_path(api, session, shop):
    response = api.post("/api/flows", {
        "name": "Sneaky", "trigger": {"type": "event", "event": "order_placed"},
        "steps": [email_step(html="{{ ''.__class__.__mro__ }}")]})
    assert response.status_code == 400
    assert "__class__" in response.get_json()["errors"]["steps.0.html"]


def test_another_stores_flow_is_a_404(api, session, shop, other_shop):
    theirs = a_flow(session, other_shop)
    session.commit()
    assert api.get(f"/api/flows/{theirs.id}").status_code == 404
    assert api.put(f"/api/flows/{theirs.id}", {"name": "Mine now"}).status_code == 404
    assert api.post(f"/api/flows/{theirs.id}/test-send",
                    {"email": "me@example.com"}).status_code == 404
    assert all(f["id"] != theirs.id for f in api.get("/api/flows").get_json()["flows"])


def test_messages_have_the_design_shape_newest_first_and_filter(api, session, shop,
                                                                other_shop):
    # given two customers' messages in this store and one in another store
    ada = customer_row(session, shop, email="ada@example.com")
    bo = customer_row(session, shop, email="bo@example.com")
    flow = a_flow(session, shop)
    other = a_flow(session, shop, name="Other")
    run = a_run(session, flow, ada)
    old = a_message(session, flow, ada, run=run, created_at=utcnow() - timedelta(days=2))
    new = a_message(session, other, ada, step_id="mail1", status="skipped",
                    reason="smart sending: emailed 3 hours ago", sent_at=None)
    a_message(session, flow, bo)
    sending = a_message(session, other, bo, status="sending", sent_at=None)
    theirs_flow = a_flow(session, other_shop)
    theirs = customer_row(session, other_shop)
    a_message(session, theirs_flow, theirs)
    session.commit()
    # when Ada's messages are read
    body = api.get(f"/api/messages?customer_id={ada.id}").get_json()
    # then both, newest first, shaped as DESIGN says
    assert [m["id"] for m in body["messages"]] == [new.id, old.id]
    first = body["messages"][0]
    assert MESSAGE_FIELDS <= set(first)
    assert first["status"] == "skipped" and first["reason"].startswith("smart sending")
    assert first["to"] == "ada@example.com" and first["sent_at"] is None
    # by flow; the store's total leaves the other store's message out
    assert [m["id"] for m in api.get(f"/api/messages?flow_id={other.id}")
            .get_json()["messages"]] == [sending.id, new.id]
    # a message being handed over is still queued to the outside
    assert api.get(f"/api/messages?flow_id={other.id}").get_json()["messages"][0][
        "status"] == "queued"
    assert len(api.get("/api/messages").get_json()["messages"]) == 4
    # and the profile carries them too
    profile = api.get(f"/api/customers/{ada.id}").get_json()
    assert [m["id"] for m in profile["messages"]] == [new.id, old.id]


def test_messages_refuse_a_parameter_that_is_not_a_whole_number(api):
    response = api.get("/api/messages?customer_id=ada")
    assert response.status_code == 400
    assert "customer_id" in response.get_json()["errors"]


def test_test_send_names_a_bad_address_and_a_step_that_is_not_an_email(api, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    response = api.post(f"/api/flows/{flow.id}/test-send",
                        {"email": "not an address", "step_id": "wait1"})
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert set(errors) == {"email", "step_id"}
    assert "wait" in errors["step_id"]
    missing = api.post(f"/api/flows/{flow.id}/test-send",
                       {"email": "me@example.com", "step_id": "nope"})
    assert "nope" in missing.get_json()["errors"]["step_id"]


def test_test_send_hands_the_step_and_address_to_the_sender(api, session, shop, monkeypatch):
    """The API's part only: what it hands the sender (address normalized, the first email
    step, the preview customer). `test_test_send_writes_a_test_message` runs the real one."""
    flow = a_flow(session, shop)
    ada = customer_row(session, shop, email="ada@example.com")
    session.commit()
    calls = []

    def stand_in(session, shop_, flow_, step_id, to, customer_id=None):
        calls.append((shop_.id, flow_.id, step_id, to, customer_id))
        message = Message(shop_id=shop_.id, flow_id=flow_.id, step_id=step_id, to_email=to,
                          subject="Welcome", status="sent", test=True, sent_at=utcnow())
        session.add(message)
        session.flush()
        return message

    import app.api.flows

    monkeypatch.setattr(app.api.flows, "test_send", stand_in)
    response = api.post(f"/api/flows/{flow.id}/test-send",
                        {"email": "Me@Example.com", "customer_id": ada.id})
    assert response.status_code == 201, response.get_json()
    assert calls == [(shop.id, flow.id, "mail1", "Me@example.com", ada.id)]
    assert response.get_json()["to"] == "Me@example.com"


def test_test_send_writes_a_test_message(api, session, shop):
    """End to end with the real sender: without SMTP_URL the test mail lands in the outbox,
    marked as a test."""
    from app.settings.service import update_settings

    update_settings(session, shop, {"sender_email": "hello@sticky-test.example"})
    flow = a_flow(session, shop)
    session.commit()
    response = api.post(f"/api/flows/{flow.id}/test-send", {"email": "me@example.com"})
    assert response.status_code == 201, response.get_json()
    session.rollback()
    message = session.get(Message, response.get_json()["id"])
    assert message.test and message.to_email == "me@example.com"
    assert message.step_id == "mail1"


def test_the_openapi_document_describes_flows_and_messages_and_stays_valid(client):
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    for path in ("/api/flows", "/api/flows/{id}", "/api/flows/{id}/test-send",
                 "/api/messages"):
        assert path in spec["paths"]


@pytest.mark.parametrize("body", [
    {"steps": "wait a bit"}, {"name": 5}, {"holdout_percent": "10"}, {"reentry_days": True},
    {"trigger": None}, {"flow_filters": [{"all": [{"not": {"field": "tags"}}]}]},
    {"steps": [{"type": "split", "condition": {"field": "orders_count", "op": "gt",
                                               "value": 1}, "yes": "no"}]},
    {"steps": [{"type": "wait", "minutes": 10**12}]}, {"status": None}, {"category": []},
])
def test_odd_values_in_a_put_are_400s_naming_the_field(api, session, shop, body):
    flow = a_flow(session, shop)
    session.commit()
    response = api.put(f"/api/flows/{flow.id}", body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["errors"]
    assert api.get(f"/api/flows/{flow.id}").get_json()["version"] == 1
