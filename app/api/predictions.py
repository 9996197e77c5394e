"""`GET /api/predictions/model`: the store's BG/NBD + Gamma-Gamma fit (app/predictions)."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify

from app.api import bp
from app.db import db
from app.predictions.service import current_model
from app.predictions.views import MEANINGS, model_json


@bp.get("/predictions/model")
def prediction_model():
    return jsonify(model_json(current_model(db.session, g.shop.id)))


_number = {"type": "number"}


def openapi_paths(error_response: dict) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["status", "reason", "fitted_at", "bgnbd", "gamma_gamma"],
        "properties": {
            "status": {"enum": ["fitted", "not_enough_data", "failed", "not_fitted"],
                       "description": "not_enough_data: below the gate (reason says which "
                                      "figure is short and by how much)."},
            "reason": {"type": ["string", "null"]},
            "fitted_at": {"type": ["string", "null"], "format": "date-time"},
            "as_of": {"type": ["string", "null"], "format": "date",
                      "description": "Orders up to the end of this UTC day were used."},
            "bgnbd": {"type": ["object", "null"], "description": "BG/NBD (Fader, Hardie & "
                      "Lee 2005), purchases counted by day.", "properties": {
                **{k: {**_number, "description": MEANINGS[k]}
                   for k in ("r", "alpha", "a", "b", "log_likelihood")},
                "time_unit": {"enum": ["weeks"], "description": "The unit alpha is in."}}},
            "gamma_gamma": {"type": ["object", "null"], "description": "Gamma-Gamma spend "
                            "model on repeat buyers' mean repeat order value.",
                            "properties": {k: {**_number, "description": MEANINGS[k]}
                                           for k in ("p", "q", "gamma")}},
            "gate": {"type": "object", "properties": {
                k: {"type": "integer"} for k in ("min_buyers", "min_history_days",
                                                 "min_repeat_buyers")}},
            "figures": {"type": ["object", "null"], "description": "The store's figures "
                        "at the fit, against the gate.", "properties": {
                k: {"type": "integer"} for k in ("buyers", "repeat_buyers", "history_days",
                                                 "scored_customers")}},
            "calibration": {"type": ["object", "null"], "description": (
                "Holdout check: by_past_repeat (mean predicted and actual holdout order "
                "days per number of past repeat order days, 0 … 7+), cumulative (weekly "
                "cumulative repeat order days, actual and forecast), holdout_total.")},
            "fit_seconds": {"type": ["number", "null"]},
        },
    }
    return {"/api/predictions/model": {"get": {
        "summary": "The store's fitted prediction models, or why they are not fitted yet.",
        "responses": {
            "200": {"description": "The model.",
                    "content": {"application/json": {"schema": schema}}},
            "401": {"description": "Missing or invalid credential.", **error_response}}}}}
