"""`GET /api/flows/<id>/report` and `POST /api/flows/<id>/backtest`: shapes, the store's
scope, bad input answered with a 400, and a backtest that records nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db import db, utcnow
from app.flows.attribution import attribute_order
from app.flows.models import FlowRun, Message
from tests.customer_helpers import api_key_headers
from tests.flows.report_support import (
    NOW,
    days,
    fact,
    make_flow,
    message_of,
    order_of,
    run_of,
    shopper,
)


def a_flow_with_a_buyer(shop):
    session = db.session
    flow = make_flow(session, shop, holdout_percent=10)
    ada = shopper(session, shop)
    run = run_of(session, flow, ada, NOW - days(3))
    message_of(session, run, "first", sent_at=NOW - days(3), opened_at=NOW - days(2),
               clicked_at=NOW - days(2))
    attribute_order(session, shop, order_of(session, ada, NOW - days(1), "70.00"))
    run_of(session, flow, shopper(session, shop), NOW - days(3), holdout=True)
    session.commit()
    return flow, ada


def test_the_report_gives_figures_steps_holdout_and_recipients(client, shop):
    flow, ada = a_flow_with_a_buyer(shop)
    response = client.get(f"/api/flows/{flow.id}/report",
                          headers=api_key_headers(db.session, shop))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) >= {"flow_id", "stats", "steps", "holdout", "recipients"}
    assert body["flow_id"] == flow.id
    assert {k: body["stats"][k] for k in ("entered", "held_out", "sent", "opened", "clicked",
                                          "converted", "revenue", "unsubscribed")} == {
        "entered": 2, "held_out": 1, "sent": 1, "opened": 1, "clicked": 1, "converted": 1,
        "revenue": "70.00", "unsubscribed": 0}
    # every step of the flow, in order, with its figures
    assert [(s["id"], s["type"]) for s in body["steps"]] == [
        ("first", "email"), ("pause", "wait"), ("second", "email")]
    assert (body["steps"][0]["sent"], body["steps"][0]["revenue"]) == (1, "70.00")
    assert body["steps"][2]["sent"] == 0
    # one entrant per group: figures, but not enough data, and why
    assert body["holdout"]["treatment"]["entrants"] == 1
    assert body["holdout"]["holdout"]["entrants"] == 1
    assert body["holdout"]["enough_data"] is False and body["holdout"]["reason"]
    assert body["recipients"] == [{"customer_id": ada.id, "email": ada.email, "sent": 1,
                                   "opened": 1, "clicked": 1, "unsubscribed": 0,
                                   "converted": 1, "revenue": "70.00"}]


def test_another_stores_flow_is_a_404_on_both_routes(client, shop, other_shop):
    flow, _ = a_flow_with_a_buyer(shop)
    headers = api_key_headers(db.session, other_shop)
    for response in (client.get(f"/api/flows/{flow.id}/report", headers=headers),
                     client.post(f"/api/flows/{flow.id}/backtest", headers=headers)):
        assert response.status_code == 404
        assert response.get_json()["message"] == f"no flow {flow.id} in this store"
    assert client.get(f"/api/flows/{flow.id}/report").status_code == 401
    assert client.get("/api/flows/99999999999999999999/report",
                      headers=headers).status_code == 404


def test_a_bad_limit_is_a_400_naming_it(client, shop):
    flow, _ = a_flow_with_a_buyer(shop)
    headers = api_key_headers(db.session, shop)
    for limit in ("0", "501", "ten", "-1"):
        response = client.get(f"/api/flows/{flow.id}/report?limit={limit}", headers=headers)
        assert response.status_code == 400, limit
        assert "limit" in response.get_json()["errors"]
    response = client.get(f"/api/flows/{flow.id}/report?limit=1", headers=headers)
    assert len(response.get_json()["recipients"]) == 1


def test_a_backtest_answers_the_counts_and_records_nothing(client, shop):
    session = db.session
    flow = make_flow(session, shop)
    for n in (1, 2, 3):
        fact(session, shopper(session, shop), "customer_created", utcnow() - days(n))
    session.commit()
    headers = api_key_headers(session, shop)
    response = client.post(f"/api/flows/{flow.id}/backtest", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["days"], body["triggered"], body["entered"]) == (30, 3, 3)
    assert [s["id"] for s in body["steps"]] == ["first", "pause", "second"]
    assert body["steps"][0]["sent"] == 3
    short = client.post(f"/api/flows/{flow.id}/backtest", json={"days": 2}, headers=headers)
    assert short.get_json()["triggered"] == 1
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(FlowRun)) == 0
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_bad_backtest_body_is_a_400(client, shop):
    flow = make_flow(db.session, shop)
    db.session.commit()
    headers = api_key_headers(db.session, shop)
    url = f"/api/flows/{flow.id}/backtest"
    for body, field in ((b"{not json", "body"), (b"[30]", "body"), (b'{"days": 0}', "days"),
                        (b'{"days": 91}', "days"), (b'{"days": "30x"}', "days"),
                        (b'{"days": true}', "days"), (b'{"weeks": 2}', "weeks")):
        response = client.post(url, data=body, headers={**headers,
                                                         "Content-Type": "application/json"})
        assert response.status_code == 400, body
        assert field in response.get_json()["errors"], body


def test_the_routes_are_described_in_openapi(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "get" in paths["/api/flows/{id}/report"]
    assert "post" in paths["/api/flows/{id}/backtest"]
