"""`flask --app app tick`: every periodic job once, now, in this process; a line per job; a
failing job fails the command but stops no other job."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from click.testing import CliRunner
from flask.cli import FlaskGroup
from sqlalchemy import select

from app.db import db, utcnow
from app.loyalty.birthday import set_birthday
from app.loyalty.models import LedgerEntry, LoyaltyProgram
from app.loyalty.program import save_program
from app.profiles.models import Cart
from app.profiles.store import ProfileStore
from connectors.records import CartRecord, CustomerRecord
from jobs.worker import PERIODIC_JOBS


def _a_store_with_work_to_do(shop) -> tuple[int, date]:
    """An idle checkout of a known shopper, and a member whose birthday is today (UTC)."""
    now = utcnow()
    who = CustomerRecord(platform_id="207119551", email="bob@example.com",
                         created_at=now - timedelta(days=90), updated_at=now)
    store = ProfileStore(db.session, shop.id)
    store.apply(CartRecord(kind="checkout", token="idle-checkout", email=who.email,
                           customer=who, currency="USD", total_price=Decimal("40.00"),
                           created_at=now - timedelta(hours=3),
                           updated_at=now - timedelta(hours=3)))
    store.finish()
    save_program(db.session, shop.id, {"enabled": True, "birthday_points": 25})
    today = now.date()
    born = date(1988, 2, 29) if (today.month, today.day) == (2, 29) else today.replace(year=1990)
    customer_id = db.session.execute(select(Cart.customer_id)).scalar_one()
    set_birthday(db.session, shop.id, customer_id, born, now=now - timedelta(days=60))
    db.session.commit()
    return customer_id, today


def _tick(app):
    db.session.close()
    return CliRunner().invoke(FlaskGroup(create_app=lambda: app), ["tick"])


def test_tick_runs_every_periodic_job_once_and_says_what_each_did(app, ctx, shop):
    customer_id, today = _a_store_with_work_to_do(shop)

    result = _tick(app)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[1] for line in lines] == [name for name, _ in PERIODIC_JOBS]
    assert all(line.startswith("ok ") for line in lines)
    by_job = {line.split()[1]: line for line in lines}
    assert "abandoned: {" in by_job["jobs.carts.mark_abandoned"]
    assert f"stores_run: [{shop.id}]; birthday_bonuses: 1" in by_job["jobs.loyalty_daily.run_daily"]
    # ... and they did it: the checkout is abandoned, the bonus awarded, the day recorded.
    assert db.session.execute(select(Cart.status)).scalar_one() == "abandoned"
    assert db.session.execute(select(LedgerEntry.key)).scalars().all() == [
        f"birthday:{customer_id}:{today.year}"]
    assert db.session.get(LoyaltyProgram, shop.id).daily_run_on == today

    # Run again: the store has had its day, so nothing is awarded twice.
    again = _tick(app)
    assert again.exit_code == 0, again.output
    assert "stores_run: none; birthday_bonuses: 0" in again.output
    assert db.session.execute(select(LedgerEntry.key)).scalars().all() == [
        f"birthday:{customer_id}:{today.year}"]


def test_a_failing_job_fails_the_command_and_the_others_still_run(app, ctx, shop, monkeypatch):
    _a_store_with_work_to_do(shop)

    def broken() -> dict:
        raise RuntimeError("the abandonment cutoff is unreadable")

    monkeypatch.setattr("jobs.carts.mark_abandoned", broken)
    result = _tick(app)

    assert result.exit_code == 1
    assert "FAILED jobs.carts.mark_abandoned" in result.output
    assert "RuntimeError: the abandonment cutoff is unreadable" in result.output
    assert f"1 of {len(PERIODIC_JOBS)} jobs failed: jobs.carts.mark_abandoned" in result.output
    assert sum(line.startswith("ok ") for line in result.output.splitlines()) == \
        len(PERIODIC_JOBS) - 1
    assert db.session.get(LoyaltyProgram, shop.id).daily_run_on is not None
