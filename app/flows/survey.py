"""Feedback surveys: the one-click answer links of a feedback email, and their answers.

FOUNDATION STUB: the built-in flows' owner implements the answers (route /t/s/<token>,
storage in survey_responses, the profile's timeline, NPS on the dashboard).
"""

from __future__ import annotations

from typing import Any

from app.email import tokens

QUESTIONS = {"nps": range(0, 11), "csat": range(1, 6)}


def survey_variables(message_pk: int, question: str) -> dict[str, Any]:
    """`survey` in an email's variables: {"question", "scores": [{"score", "url"}]}."""
    return {"question": question,
            "scores": [{"score": s, "url": tokens.url("survey", [message_pk, s])}
                       for s in QUESTIONS[question]]}
