"""`/t/s/<token>`: a feedback email's one-click answer. GET records the score and thanks the
shopper, offering a comment; POST saves the comment. Public, server-rendered, no script.

No CSRF token: the signed link is the only authority, and a forged post could do no more
than the link's holder can by clicking it. A HEAD request (link checkers, mail scanners)
records nothing.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from app.db import db
from app.flows import survey
from app.shops.models import Shop

bp = Blueprint("flow_survey", __name__)


def _store(shop: Shop | None) -> tuple[str, str | None]:
    if shop is None:
        return "the store", None
    if shop.platform == "woocommerce" and shop.api_base_url:
        return shop.name or shop.domain, shop.api_base_url
    return shop.name or shop.domain, f"https://{shop.domain}"


def _refused(reason: str):
    return render_template("flows/survey.html", refused=reason, answer=None,
                           store_name=None, store_url=None, error=None), 404


def _page(answer: survey.Answer, *, status: int = 200, comment_saved: bool = False,
          error: str | None = None, draft: str = ""):
    name, url = _store(db.session.get(Shop, answer.message.shop_id))
    return render_template(
        "flows/survey.html", refused=None, answer=answer, store_name=name, store_url=url,
        scale=max(survey.QUESTIONS[answer.question]), comment_saved=comment_saved,
        error=error, draft=draft, comment_max=survey.COMMENT_MAX), status


@bp.route("/t/s/<token>", methods=["GET", "HEAD"])
def answer(token: str):
    try:
        message, question, score = survey.read_token(db.session, token)
    except survey.AnswerRefused as exc:
        return _refused(str(exc))
    if request.method == "HEAD":
        return "", 200
    result = survey.record(db.session, message, question, score)
    db.session.commit()
    return _page(result)


@bp.post("/t/s/<token>")
def comment(token: str):
    try:
        message, question, score = survey.read_token(db.session, token)
    except survey.AnswerRefused as exc:
        return _refused(str(exc))
    raw = request.form.get("comment", "")
    try:
        text = survey.clean_comment(raw)
    except ValueError as exc:
        result = survey.record(db.session, message, question, score)
        db.session.commit()
        return _page(result, status=400, error=str(exc), draft=raw[:survey.COMMENT_MAX * 2])
    result = survey.record(db.session, message, question, score, comment=text)
    db.session.commit()
    return _page(result, comment_saved=True)
