"""`/admin/customers/import`: upload another tool's CSV export, check the column mapping and
the dry-run report, then import it in a worker with live progress (resumable).

The work is `app.imports`'; this module only draws it:
- GET/POST `/admin/customers/import` (`panel.customer_import`): the upload form, and the
  store's recent imports (an interrupted one offers "Resume");
- GET/POST `/admin/customers/import/<id>`: the mapping form (guesses preselected) and the
  dry-run report; posting the form plans the import again with the chosen columns;
- POST `/admin/customers/import/<id>/start`: queue the run for a worker;
- GET `/admin/customers/import/<id>/progress`: the run's progress as JSON (polled).
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, g, jsonify, redirect, render_template, request
from flask_wtf.file import FileField
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import RadioField, SelectField
from wtforms.fields.choices import SelectChoice

from app.customers.display import LocalTime
from app.db import db, utcnow
from app.imports.apply import LOCK_SECONDS
from app.imports.mapping import FIELDS
from app.imports.models import COMPLETED, PLANNED, RUNNING, ImportRun
from app.imports.service import (
    ImportFileError,
    create_run,
    get_run,
    prepare,
    progress_json,
    queue_run,
    recent_runs,
    replan,
)
from app.panel import bp
from app.panel.customer_forms import PanelForm
from app.panel.door import panel_page, panel_url
from app.settings.timezone import shop_zone

# The largest upload (the CLI takes files up to app.imports.service.MAX_BYTES).
UPLOAD_LIMIT = 20 * 1024 * 1024
_LIMIT_TEXT = (f"The file is larger than {UPLOAD_LIMIT // 1048576} MB, the most the panel "
               "takes. Split it, or import it with `flask --app app import` (up to 50 MB).")
KIND_LABELS = {"customers": "Customers", "orders": "Orders"}


class UploadForm(PanelForm):
    kind = RadioField("What the file holds", default="customers", choices=[
        SelectChoice("customers", "Customers (one per line: email, names, consent...)"),
        SelectChoice("orders", "Orders (one per line, or one per line item: order id, email, "
                               "date, total)")])
    file = FileField("CSV file")


def mapping_form(kind: str, header: list[str], columns: dict[str, str], formdata=None):
    """A form with one select per column of the file, each preset to its current field."""
    choices = [SelectChoice("", "Ignore this column")] + [
        SelectChoice(f.name, f.label + (" (required)" if f.required else ""))
        for f in FIELDS[kind]]

    class MappingForm(PanelForm):
        pass

    for position, column in enumerate(header):
        setattr(MappingForm, f"col_{position}", SelectField(
            column or f"Column {position + 1}", choices=choices,
            default=columns.get(column, "")))
    form = MappingForm(formdata=formdata)
    form.columns = [(column, form[f"col_{position}"]) for position, column in enumerate(header)]
    return form


@bp.before_app_request
def _allow_import_uploads() -> None:
    # The app caps request bodies for webhooks; an import upload may be larger.
    if request.endpoint == "panel.customer_import" and request.method == "POST":
        request.max_content_length = UPLOAD_LIMIT + 1024 * 1024


@bp.errorhandler(RequestEntityTooLarge)
def _upload_too_large(exc: RequestEntityTooLarge):
    if request.endpoint != "panel.customer_import":
        return exc
    flash(_LIMIT_TEXT, "error")
    return redirect(panel_url("panel.customer_import"))


def _run_or_404(run_id: int) -> ImportRun:
    run = get_run(db.session, g.shop.id, run_id)
    if run is None:
        abort(404, description="There is no such import in this store.")
    return run


def _stalled(run: ImportRun) -> bool:
    """A running run nobody has advanced for a while: its importer died."""
    return run.status == RUNNING and run.updated_at < utcnow() - timedelta(
        seconds=2 * LOCK_SECONDS)


@bp.route("/admin/customers/import", methods=["GET", "POST"])
@panel_page
def customer_import():
    form = UploadForm()
    submitted = form.is_submitted()
    if not submitted:
        return _upload_page(form)
    upload = request.files.get("file")
    content = upload.read(UPLOAD_LIMIT + 1) if upload else b""
    if form.kind.data not in KIND_LABELS:
        form.kind.errors = ["Choose customers or orders."]
    elif not upload or not upload.filename:
        form.file.errors = ["Choose the CSV file to import."]
    elif len(content) > UPLOAD_LIMIT:
        form.file.errors = [_LIMIT_TEXT]
    else:
        try:
            prepared = prepare(db.session, g.shop, form.kind.data, content,
                               allow_incomplete=True)
        except ImportFileError as exc:
            form.file.errors = [f"This file cannot be imported: {exc}."]
            return _upload_page(form, 400)
        run = create_run(db.session, g.shop, prepared, filename=upload.filename)
        return redirect(panel_url("panel.customer_import_run", run_id=run.id))
    return _upload_page(form, 400)


def _upload_page(form: UploadForm, status: int = 200):
    runs = recent_runs(db.session, g.shop.id)
    return render_template("panel/customer_import.html", form=form, runs=runs,
                           kind_labels=KIND_LABELS, stalled={r.id for r in runs if _stalled(r)},
                           upload_mb=UPLOAD_LIMIT // 1048576,
                           local=LocalTime(shop_zone(db.session, g.shop)),
                           active_nav="panel.customers"), status


@bp.route("/admin/customers/import/<int:run_id>", methods=["GET", "POST"])
@panel_page
def customer_import_run(run_id: int):
    run = _run_or_404(run_id)
    header = list((run.report or {}).get("header") or [])
    form = mapping_form(run.kind, header, run.mapping["columns"],
                        formdata=request.form if request.method == "POST" else None)
    problem = None
    status = 200
    if request.method == "POST":
        if run.status != PLANNED:
            flash("This import has started: its mapping can no longer change.", "error")
            return redirect(panel_url("panel.customer_import_run", run_id=run.id))
        chosen = {column: field.data for column, field in form.columns if field.data}
        fields = list(chosen.values())
        for _column, field in form.columns:
            if field.data and fields.count(field.data) > 1:
                field.errors = ["Another column is mapped to this field too: choose one."]
        try:
            replan(db.session, g.shop, run, chosen)
            flash("Mapping saved; the report below is checked with it.", "success")
            return redirect(panel_url("panel.customer_import_run", run_id=run.id))
        except ImportFileError as exc:
            problem, status = f"This mapping cannot be used: {exc}.", 400
    stalled = _stalled(run)
    return render_template(
        "panel/customer_import_run.html", run=run, form=form, problem=problem,
        report=run.report or {}, kind_label=KIND_LABELS[run.kind], stalled=stalled,
        required_mapped=_required_mapped(run),
        can_start=run.status == PLANNED and run.total > 0 and _required_mapped(run),
        can_resume=run.status == "failed" or stalled,
        active=run.status in ("queued", RUNNING) and not stalled,
        fields={f.name: f for f in FIELDS[run.kind]},
        local=LocalTime(shop_zone(db.session, g.shop)), active_nav="panel.customers"), status


def _required_mapped(run: ImportRun) -> bool:
    chosen = set(run.mapping["columns"].values())
    return all(f.name in chosen for f in FIELDS[run.kind] if f.required)


@bp.post("/admin/customers/import/<int:run_id>/start")
@panel_page
def customer_import_start(run_id: int):
    run = _run_or_404(run_id)
    if run.status == COMPLETED:
        flash("This import is already complete.", "info")
    elif run.status in ("queued", RUNNING) and not _stalled(run):
        flash("This import is already under way.", "info")
    elif not _required_mapped(run):
        flash("Map the required fields first.", "error")
    elif queue_run(db.session, run):
        flash("Import started: progress shows below. You can leave this page; it goes on.",
              "success")
    else:
        flash("The job queue (Redis) cannot be reached: the import did not start. Try "
              "again in a moment.", "error")
    return redirect(panel_url("panel.customer_import_run", run_id=run.id))


@bp.get("/admin/customers/import/<int:run_id>/progress")
@panel_page
def customer_import_progress(run_id: int):
    run = _run_or_404(run_id)
    db.session.commit()
    return jsonify(dict(progress_json(run), stalled=_stalled(run)))
