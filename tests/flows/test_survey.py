"""Feedback surveys: one click records the score, a comment may follow, the answer is on the
shopper's timeline, and NPS is on the dashboard."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.customers.display import describe
from app.email import tokens
from app.flows import builtins, survey
from app.flows.models import Flow, FlowRun, Message, SurveyResponse
from app.flows.service import create_flow, update_flow
from app.profiles.models import TimelineEvent
from tests.flows.store_rows import customer

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _feedback_email(session, shop, who, *, question: str = "nps", test: bool = False):
    """A sent feedback email of `who` (the built-in feedback flow's survey step)."""
    flow = session.scalar(select(Flow).where(Flow.shop_id == shop.id,
                                      Flow.key == "feedback"))
    if flow is None:
        flow = create_flow(session, shop.id, builtins.flow_data("feedback"), key="feedback")
    if question != "nps":
        steps = flow.definition["steps"]
        steps = [{**s, "survey": question} if s["id"] == "survey" else s for s in steps]
        update_flow(session, flow, {"steps": steps})
    if test:
        message = Message(shop_id=shop.id, flow_id=None, run_id=None, step_id="survey",
                          customer_id=None, test=True, to_email="merchant@example.com",
                          status="sent")
    else:
        run = FlowRun(shop_id=shop.id, flow_id=flow.id, version=flow.version,
                      customer_id=who.id, trigger_key=f"event:{who.id}:{flow.version}",
                      context={})
        session.add(run)
        session.flush()
        message = Message(shop_id=shop.id, flow_id=flow.id, run_id=run.id, step_id="survey",
                          customer_id=who.id, to_email=who.email, status="sent")
    session.add(message)
    session.commit()
    return message


def _link(message, score) -> str:
    return "/t/s/" + tokens.sign("survey", [message.id, score])


def _response(session, message):
    session.expire_all()
    return session.scalar(select(SurveyResponse).where(SurveyResponse.message_pk == message.id))


def _timeline(session, who):
    session.expire_all()
    return session.scalars(select(TimelineEvent).where(
        TimelineEvent.customer_id == who.id, TimelineEvent.kind == "survey_answered")).all()


def test_the_emails_links_carry_each_score(ctx):
    links = survey.survey_variables(42, "nps")
    assert links["question"] == "nps"
    assert [s["score"] for s in links["scores"]] == list(range(11))
    assert links["scores"][9]["url"].startswith("https://sticky.test/t/s/")
    assert tokens.load("survey", links["scores"][9]["url"].rsplit("/", 1)[1]) == [42, 9]


def test_one_click_records_the_score_and_a_second_click_changes_it(client, session, shop):
    # given a feedback email sent to ana
    ana = customer(session, shop.id, "ana")
    message = _feedback_email(session, shop, ana)

    # when she clicks 6
    page = client.get(_link(message, 6))

    # then the score is recorded and she is thanked, with a comment form
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "You gave us 6 out of 10." in text and 'name="comment"' in text
    first = _response(session, message)
    assert (first.score, first.question, first.customer_id, first.shop_id) == \
        (6, "nps", ana.id, shop.id)
    answered_at = first.answered_at

    # when she clicks 9 in the same email
    assert client.get(_link(message, 9)).status_code == 200

    # then there is still one answer, now 9, from the time of her first click
    session.expire_all()
    rows = session.scalars(select(SurveyResponse)).all()
    assert [(r.score, r.answered_at) for r in rows] == [(9, answered_at)]
    # and one timeline row, saying 9
    [row] = _timeline(session, ana)
    assert row.data["score"] == 9 and row.ref == f"survey:{message.id}"
    assert describe(row, "USD").title == "Answered a feedback survey: 9 out of 10 (a promoter)"


def test_a_comment_is_saved_on_the_answer_and_the_timeline(client, session, shop):
    ana = customer(session, shop.id, "ana")
    message = _feedback_email(session, shop, ana)
    client.get(_link(message, 4))

    page = client.post(_link(message, 4), data={"comment": "  The parcel came late.  "})

    assert page.status_code == 200
    assert "Your comment has been passed on" in page.get_data(as_text=True)
    answer = _response(session, message)
    assert (answer.score, answer.comment) == (4, "The parcel came late.")
    [row] = _timeline(session, ana)
    item = describe(row, "USD")
    assert item.detail == "The parcel came late."
    assert item.title.endswith("4 out of 10 (a detractor)")
    # a later click on another score keeps the comment
    client.get(_link(message, 7))
    assert (_response(session, message).score, _response(session, message).comment) == \
        (7, "The parcel came late.")


def test_an_empty_or_huge_comment_is_refused_in_words(client, session, shop):
    ana = customer(session, shop.id, "ana")
    message = _feedback_email(session, shop, ana)

    empty = client.post(_link(message, 8), data={"comment": "   "})
    huge = client.post(_link(message, 8), data={"comment": "x" * 2001})

    assert empty.status_code == 400
    assert "your score is saved" in html.unescape(empty.get_data(as_text=True))
    assert huge.status_code == 400
    assert "under 2,000 characters" in huge.get_data(as_text=True)
    answer = _response(session, message)
    assert (answer.score, answer.comment) == (8, None)


@pytest.mark.parametrize("bad", ["not-a-token", "click", "out-of-range", "gone", "shape"])
def test_a_bad_link_is_a_404_in_words(client, session, shop, bad):
    ana = customer(session, shop.id, "ana")
    message = _feedback_email(session, shop, ana)
    url = {
        "not-a-token": "/t/s/abc.def",
        # a click token is signed for another purpose: never a survey answer
        "click": "/t/s/" + tokens.sign("click", [message.id, 9]),
        "out-of-range": _link(message, 11),
        "gone": "/t/s/" + tokens.sign("survey", [message.id + 1000, 9]),
        "shape": "/t/s/" + tokens.sign("survey", {"m": message.id}),
    }[bad]

    for response in (client.get(url), client.post(url, data={"comment": "hi"})):
        assert response.status_code == 404
        assert "This survey link does not work" in response.get_data(as_text=True)
    assert session.scalars(select(SurveyResponse)).all() == []


def test_a_csat_survey_takes_1_to_5(client, session, shop):
    ana = customer(session, shop.id, "ana")
    message = _feedback_email(session, shop, ana, question="csat")

    assert client.get(_link(message, 0)).status_code == 404
    page = client.get(_link(message, 5))

    assert "You gave us 5 out of 5." in page.get_data(as_text=True)
    assert _response(session, message).question == "csat"


def test_a_link_checkers_head_request_and_a_test_send_record_nothing(client, session, shop):
    ana = customer(session, shop.id, "ana")
    message = _feedback_email(session, shop, ana)
    assert client.head(_link(message, 0)).status_code == 200
    assert _response(session, message) is None

    test_message = _feedback_email(session, shop, None, test=True)
    page = client.get(_link(test_message, 10))
    assert page.status_code == 200
    assert "answers to it are not recorded" in page.get_data(as_text=True)
    assert session.scalars(select(SurveyResponse)).all() == []


def _answer(session, shop, who, score, at, question="nps"):
    message = _feedback_email(session, shop, who, question=question)
    survey.record(session, message, question, score, now=at)
    session.commit()


def test_nps_counts_the_answers_of_the_period(session, shop, other_shop):
    people = [customer(session, shop.id, f"p{i}") for i in range(8)]
    # in the period: 10, 9 (promoters), 8 (passive), 6, 3 (detractors)
    for who, score in zip(people, (10, 9, 8, 6, 3), strict=False):
        _answer(session, shop, who, score, T0)
    # outside it, a CSAT answer, and another store's answer: not counted
    _answer(session, shop, people[5], 0, T0 - timedelta(days=40))
    _answer(session, shop, people[6], 1, T0, question="csat")
    stranger = customer(session, other_shop.id, "stranger")
    _answer(session, other_shop, stranger, 0, T0)

    result = survey.nps(session, shop.id, T0 - timedelta(days=1), T0 + timedelta(days=1))

    # (2 - 2) / 5 = 0
    assert result == {"responses": 5, "promoters": 2, "passives": 1, "detractors": 2,
                      "nps": 0}
    assert survey.nps(session, shop.id, T0 + timedelta(days=1), T0 + timedelta(days=2)) == \
        {"responses": 0, "promoters": 0, "passives": 0, "detractors": 0, "nps": None}


def test_nps_rounds_half_up(session, shop):
    people = [customer(session, shop.id, f"q{i}") for i in range(8)]
    # 10, 10, 7, 7, 7, 7, 7, 0: (2 - 1) / 8 = 12.5 % → 13 (not 12, a banker's rounding)
    for who, score in zip(people, (10, 10, 7, 7, 7, 7, 7, 0), strict=True):
        _answer(session, shop, who, score, T0)
    assert survey.nps(session, shop.id, T0, T0 + timedelta(hours=1))["nps"] == 13


def test_the_dashboard_shows_nps_when_there_are_answers(client, session, shop):
    from tests.test_dashboard_page import sign_in_to

    sign_in_to(client, shop)
    quiet = client.get("/admin", query_string={"range": "custom", "from": "2026-03-01",
                                               "to": "2026-03-31"})
    assert quiet.status_code == 200
    assert 'id="feedback-card"' not in quiet.get_data(as_text=True)

    people = [customer(session, shop.id, f"d{i}") for i in range(3)]
    for who, score in zip(people, (10, 10, 7), strict=True):
        _answer(session, shop, who, score, T0)
    page = client.get("/admin", query_string={"range": "custom", "from": "2026-03-01",
                                              "to": "2026-03-31"}).get_data(as_text=True)

    assert 'id="feedback-card"' in page
    assert 'data-metric="feedback-nps">+67<' in page
