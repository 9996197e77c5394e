"""Feedback surveys: the one-click answer links of a feedback email, their answers, and NPS.

An email step with `"survey": "nps"` (0-10, "how likely are you to recommend us") or
`"csat"` (1-5, "how satisfied are you") gets `survey` in its variables: the question and one
link per score, `/t/s/<token>`, the token signing [message id, score].

Answers (`survey_responses`, unique per message):
- one click records the score; a later click on another score of the same email changes it
  (a shopper who clicked 6, then 9, meant 9), keeping the time of the first answer;
- the page that follows offers a comment, saved on the same answer;
- each answer is a row on the shopper's timeline (kind `survey_answered`, ref
  `survey:<message id>`), kept in step with the score and comment;
- a test send (no run behind it) shows the page but records nothing.

NPS over a period: % promoters (9-10) − % detractors (0-6) of the NPS answers given in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.db import insert_for, utcnow
from app.email import tokens
from app.flows.definition import Plan
from app.flows.models import FlowRun, Message, SurveyResponse
from app.flows.service import definition_of
from app.profiles.models import TimelineEvent

QUESTIONS = {"nps": range(0, 11), "csat": range(1, 6)}
COMMENT_MAX = 2000
TIMELINE_KIND = "survey_answered"

_R = SurveyResponse.__table__
_T = TimelineEvent.__table__


def survey_variables(message_pk: int, question: str) -> dict[str, Any]:
    """`survey` in an email's variables: {"question", "scores": [{"score", "url"}]}."""
    return {"question": question,
            "scores": [{"score": s, "url": tokens.url("survey", [message_pk, s])}
                       for s in QUESTIONS[question]]}


class AnswerRefused(LookupError):
    """The link cannot be answered; the message is for the shopper."""


@dataclass(frozen=True)
class Answer:
    message: Message
    question: str
    score: int
    test: bool  # a test send: nothing recorded
    comment: str | None = None


def read_token(session: Session, token: str) -> tuple[Message, str, int]:
    """The message, its question and the score a survey link names; AnswerRefused when the
    link is not one Sticky made, its email is gone, or the score is not one of the question's
    choices."""
    try:
        payload = tokens.load("survey", token)
    except tokens.TokenInvalid as exc:
        raise AnswerRefused(str(exc)) from exc
    if (not isinstance(payload, list) or len(payload) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in payload)):
        raise AnswerRefused("this link is not valid (it may have been cut or changed)")
    message_pk, score = payload
    message = session.get(Message, message_pk)
    if message is None:
        raise AnswerRefused("this survey is no longer open: its email was removed")
    question = question_of(session, message)
    if score not in QUESTIONS[question]:
        raise AnswerRefused("this answer is not one of the survey's choices")
    return message, question, score


def question_of(session: Session, message: Message) -> str:
    """The question of the email step that sent `message` ("nps" unless it says "csat"), as
    it was in the version the run followed."""
    if message.run_id is None or message.flow_id is None or message.step_id is None:
        return "nps"
    version = session.scalar(select(FlowRun.version).where(FlowRun.id == message.run_id))
    definition = definition_of(session, message.flow_id, version) if version else None
    if not definition:
        return "nps"
    plan = Plan(definition)
    if message.step_id not in plan:
        return "nps"
    asked = plan.step(message.step_id).get("survey")
    return asked if asked in QUESTIONS else "nps"


def record(session: Session, message: Message, question: str, score: int, *,
           comment: str | None = None, now: datetime | None = None) -> Answer:
    """Record (or change) the answer to `message`'s survey, and its timeline row. A comment
    of None leaves a saved comment as it was. Does not commit."""
    now = now or utcnow()
    if message.test or message.run_id is None or message.customer_id is None:
        return Answer(message, question, score, test=True, comment=comment)
    values: dict[str, Any] = {"score": score, "question": question}
    if comment is not None:
        values["comment"] = comment
    row = session.execute(
        insert_for(session, _R).values(
            shop_id=message.shop_id, message_pk=message.id, customer_id=message.customer_id,
            flow_id=message.flow_id, answered_at=now, **values)
        .on_conflict_do_update(index_elements=["message_pk"], set_=values)
        .returning(_R.c.score, _R.c.comment, _R.c.answered_at)).one()
    data = {"question": question, "score": row.score, "comment": row.comment,
            "flow_id": message.flow_id, "message_id": message.id}
    session.execute(
        insert_for(session, _T).values(
            shop_id=message.shop_id, customer_id=message.customer_id, kind=TIMELINE_KIND,
            ref=f"survey:{message.id}", occurred_at=row.answered_at, data=data)
        .on_conflict_do_update(index_elements=["customer_id", "kind", "ref"],
                               set_={"data": data}))
    return Answer(message, question, row.score, test=False, comment=row.comment)


def clean_comment(raw: Any) -> str:
    """A comment as saved: trimmed, without NUL characters; ValueError in words."""
    text = (raw if isinstance(raw, str) else "").replace("\x00", "").strip()
    if not text:
        raise ValueError("Write a comment, or simply close this page: your score is saved.")
    if len(text) > COMMENT_MAX:
        raise ValueError(f"Please keep your comment under {COMMENT_MAX:,} characters "
                         f"(it has {len(text):,}).")
    return text


def nps(session: Session, shop_id: int, since: datetime, until: datetime) -> dict[str, Any]:
    """The NPS answers given in [since, until): {"responses", "promoters", "passives",
    "detractors", "nps"}; "nps" is a whole number from -100 to 100, None without answers.
    One query."""
    row = session.execute(
        select(func.count(),
               func.coalesce(func.sum(case((_R.c.score >= 9, 1), else_=0)), 0),
               func.coalesce(func.sum(case(((_R.c.score >= 7) & (_R.c.score <= 8), 1),
                                           else_=0)), 0))
        .where(_R.c.shop_id == shop_id, _R.c.question == "nps",
               _R.c.answered_at >= since, _R.c.answered_at < until)).one()
    responses, promoters, passives = int(row[0]), int(row[1]), int(row[2])
    detractors = responses - promoters - passives
    score = (int((Decimal(100 * (promoters - detractors)) / responses)
                 .quantize(Decimal(1), ROUND_HALF_UP)) if responses else None)
    return {"responses": responses, "promoters": promoters, "passives": passives,
            "detractors": detractors, "nps": score}
