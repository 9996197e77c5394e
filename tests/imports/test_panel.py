"""The import pages: upload, mapping with guesses, the dry-run report, import in a worker."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from app.db import db
from app.imports.models import ImportRun
from app.profiles.models import Customer
from tests.conftest import run_worker
from tests.customer_helpers import csrf_from, sign_in
from tests.imports.support import count, customer

FILE = ("Email Address,First Name,Shoe,OPTIN_TIME\n"
        "ada@example.com,Ada,38,2024-02-01 10:00:00\n"
        "nope,Bob,40,\n"
        "carl@example.com,Carl,41,\n")


def _upload(client, text: str, kind: str = "customers", name: str = "audience.csv"):
    token = csrf_from(client, "/admin/customers/import")
    return client.post("/admin/customers/import", data={
        "csrf_token": token, "kind": kind,
        "file": (io.BytesIO(text.encode()), name)}, content_type="multipart/form-data")


def test_customers_list_links_to_the_import(client, session, shop):
    sign_in(client, session, shop)
    page = client.get("/admin/customers").get_data(as_text=True)
    assert 'href="/admin/customers/import"' in page


def test_upload_report_import_and_progress(app, client, session, shop):
    sign_in(client, session, shop)
    response = _upload(client, FILE)
    assert response.status_code == 302
    run_page = response.headers["Location"]
    page = client.get(run_page).get_data(as_text=True)
    # the guesses are preselected, the unknown column ignored
    assert re.search(r'<option selected value="email">', page)
    assert re.search(r'<select[^>]*name="col_2"[^>]*>\s*<option selected value="">', page)
    # the report: 2 new, 1 rejected with its line and reason
    assert re.search(r'data-metric="count-new">2<', page)
    assert re.search(r'data-metric="count-rejected">1<', page)
    assert "<td class=\"numeric\">3</td><td class=\"text-break\">email &#39;nope&#39; is not a " \
           "valid address" in page
    assert count(Customer) == 0  # checked, not imported
    # when the merchant imports
    run = db.session.execute(select(ImportRun)).scalar_one()
    token = csrf_from(client, run_page)
    started = client.post(f"/admin/customers/import/{run.id}/start", data={"csrf_token": token})
    assert started.status_code == 302
    assert client.get(f"/admin/customers/import/{run.id}/progress").get_json()["status"] == \
        "queued"
    run_worker(app)
    progress = client.get(f"/admin/customers/import/{run.id}/progress").get_json()
    assert (progress["status"], progress["done"], progress["total"], progress["created"]) == (
        "completed", 2, 2, 2)
    assert customer(shop, "ada@example.com").email_marketing == "subscribed"
    assert "Import complete" in client.get(run_page).get_data(as_text=True)


def test_remapping_checks_again_and_errors_show_next_to_fields(client, session, shop):
    sign_in(client, session, shop)
    run_page = _upload(client, FILE).headers["Location"]
    run = db.session.execute(select(ImportRun)).scalar_one()
    token = csrf_from(client, run_page)
    # two columns on one field: refused, the error next to both
    refused = client.post(run_page, data={"csrf_token": token, "col_0": "email",
                                          "col_1": "email", "col_2": "", "col_3": ""})
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert text.count("Another column is mapped to this field too") == 2
    # the shoe column as tags: saved, report checked again
    saved = client.post(run_page, data={"csrf_token": token, "col_0": "email",
                                        "col_1": "first_name", "col_2": "tags", "col_3": ""})
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(ImportRun, run.id).mapping["columns"] == {
        "Email Address": "email", "First Name": "first_name", "Shoe": "tags"}


def test_bad_uploads_get_a_message_not_a_500(client, session, shop):
    sign_in(client, session, shop)
    empty = _upload(client, "")
    assert empty.status_code == 400
    assert "the file is empty" in empty.get_data(as_text=True)
    token = csrf_from(client, "/admin/customers/import")
    none = client.post("/admin/customers/import", data={"csrf_token": token,
                                                        "kind": "customers"})
    assert none.status_code == 400
    assert "Choose the CSV file to import." in none.get_data(as_text=True)
    too_big = _upload(client, "Email\n" + "a@example.com\n" * (21 * 1024 * 1024 // 14))
    assert too_big.status_code == 302
    assert "larger than 20 MB" in client.get(too_big.headers["Location"]).get_data(as_text=True)
    # a missing required column: the mapping page asks for it
    missing = _upload(client, "Who,Name\nada@example.com,Ada\n")
    assert missing.status_code == 302
    page = client.get(missing.headers["Location"]).get_data(as_text=True)
    assert "Choose the missing column" in page
    assert "no column is mapped to email" in page


def test_another_stores_import_is_not_found(client, session, shop, other_shop):
    from app.imports.service import create_run
    from tests.imports.support import prepared

    other = create_run(session, other_shop, prepared(other_shop, "customers", FILE))
    sign_in(client, session, shop)
    assert client.get(f"/admin/customers/import/{other.id}").status_code == 404
    assert client.get(f"/admin/customers/import/{other.id}/progress").status_code == 404


def test_an_interrupted_import_offers_resume_and_finishes(app, client, session, shop,
                                                         monkeypatch):
    from app.imports import apply

    sign_in(client, session, shop)
    run_page = _upload(client, "Email\n" + "".join(f"p{n}@example.com\n" for n in range(7))
                       ).headers["Location"]
    run = db.session.execute(select(ImportRun)).scalar_one()
    db.session.commit()
    # given an import that stopped after its first chunk (the second one failed)
    calls = []

    def fail_second(_run):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker lost its database connection")

    monkeypatch.setitem(apply.checkpoints, "chunk_written", fail_second)
    monkeypatch.setattr(apply, "CHUNK_SIZE", 3)
    try:
        apply.run_import(db.session, run.id)
    except RuntimeError:
        pass
    monkeypatch.delitem(apply.checkpoints, "chunk_written")
    # then the list and the run page offer to resume it, saying how far it got
    listing = client.get("/admin/customers/import").get_data(as_text=True)
    assert ">Resume</a>" in listing
    page = client.get(run_page).get_data(as_text=True)
    assert "Stopped: worker lost its database connection" in page
    assert "3 of 7 customers are already imported" in page
    # when the merchant resumes and a worker runs it
    token = csrf_from(client, run_page)
    client.post(f"/admin/customers/import/{run.id}/start", data={"csrf_token": token})
    run_worker(app)
    progress = client.get(f"/admin/customers/import/{run.id}/progress").get_json()
    assert (progress["status"], progress["done"], progress["created"]) == ("completed", 7, 7)
    assert count(Customer) == 7


def test_imported_profile_timeline_says_imported(client, session, shop):
    from tests.imports.support import import_file

    import_file(shop, "customers", "Email,First Name\nada@example.com,Ada\n",
                filename="klaviyo.csv")
    ada = customer(shop, "ada@example.com")
    db.session.commit()
    sign_in(client, session, shop)
    page = client.get(f"/admin/customers/{ada.id}").get_data(as_text=True)
    assert "Imported from klaviyo.csv, line 2" in page
