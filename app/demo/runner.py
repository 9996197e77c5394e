"""`flask --app app demo`: seed the demo store, then run it live until Ctrl-C.

1. Check the port, then seed (app/demo/seeder.py), so a busy port is reported before a
   minute of seeding rather than after.
2. Start gunicorn and an RQ worker (app/demo/processes.py), and wait until this demo's web
   server answers.
   Print a single-use link that opens the panel signed in on the demo store
   (app/demo/account.py), then the other addresses.
3. In this process, post the simulator's signed webhooks (app/demo/simulator.py) to
   `/webhooks/shopify`, with a status line every ~10 s, until Ctrl-C or SIGTERM stops
   everything.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import func, select

from app.accounts.links import LINK_LIFETIME
from app.db import db
from app.demo.account import DEMO_EMAIL, demo_sign_in_url, ensure_demo_account
from app.demo.flows import ensure_demo_flows, ensure_demo_sender
from app.demo.loyalty import ensure_demo_program
from app.demo.processes import (
    HOST,
    Child,
    check_port,
    exit_error,
    start_child,
    stop_children,
    subprocess_env,
    wait_until_serving,
    web_argv,
)
from app.demo.seeder import demo_shop_id, seed_demo
from app.demo.simulator import Simulator, load_sim_customers
from app.demo.store import DEMO_DOMAIN, DemoError

STATUS_EVERY = 10.0
CATCH_UP_SECONDS = 15.0


class _Stop(Exception):
    pass


def run_demo(app: Flask, *, customers: int = 3000, rate: float = 2.0, port: int = 5000,
             seed_only: bool = False, duration: float | None = None) -> None:
    """Seed the demo store; unless `seed_only`, run web + worker + simulator until stopped.

    `duration` (seconds) ends a live run by itself, after letting the worker catch up.
    Raises DemoError (shown without a traceback) for a bad option, a port already in use,
    or a child process that stops.
    """
    if not seed_only:
        if rate <= 0:
            raise DemoError("--rate must be positive")
        check_port(port)
    with app.app_context():
        seed_demo(app, customers)
        shop_id = demo_shop_id(app)  # its own transaction: not inside the one below
        with db.new_session() as s, s.begin():
            if ensure_demo_program(s, shop_id):
                click.echo("Loyalty program switched on for the demo store: 1 point per USD, "
                           "Bronze/Silver/Gold tiers, three rewards (Loyalty in the panel).")
            if ensure_demo_flows(s, shop_id):
                click.echo("Flows switched on for the demo store: welcome, abandoned checkout "
                           "and post-purchase; their mail goes to the outbox (Flows in the "
                           "panel).")
        with db.new_session() as s:
            ensure_demo_sender(s, shop_id)
        if seed_only:
            with db.new_session() as s, s.begin():
                ensure_demo_account(s, demo_shop_id(app))
            click.echo(f"To open the panel, serve the app and run `./dev flask accounts "
                       f"sign-in-link {DEMO_EMAIL}` for a sign-in link.")
            return
        _run_live(app, rate=rate, port=port, duration=duration)


def status_line(shop_id: int, started: float, sent: int, redelivered: int, errors: int) -> str:
    from app.inbox.service import counts
    from app.profiles.models import Customer, Order

    with db.new_session() as s:
        inbox = counts(s, shop_id)
        customers = s.execute(select(func.count()).select_from(Customer).where(
            Customer.shop_id == shop_id, Customer.deleted_at.is_(None))).scalar_one()
        orders = s.execute(select(func.count()).select_from(Order).where(
            Order.shop_id == shop_id)).scalar_one()
        s.rollback()
    inbox_text = " ".join(f"{k}={inbox.get(k, 0)}" for k in ("pending", "processed", "failed"))
    elapsed = int(time.monotonic() - started)
    extra = f", {errors} send errors" if errors else ""
    return (f"[{elapsed // 60:02d}:{elapsed % 60:02d}] webhooks sent {sent} "
            f"({redelivered} redeliveries{extra}) | inbox {inbox_text} | "
            f"customers {customers:,} | orders {orders:,}")


def _executables() -> tuple[Path, Path]:
    bin_dir = Path(sys.executable).parent
    gunicorn, flask_bin = bin_dir / "gunicorn", bin_dir / "flask"
    for exe in (gunicorn, flask_bin):
        if not exe.exists():
            raise DemoError(f"{exe} not found: install the project into this environment")
    return gunicorn, flask_bin


def _print_banner(base: str, rate: float, api_key: str, panel_link: str) -> None:
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    click.echo("")
    click.echo(f"Sticky demo is running at {base}")
    click.echo("")
    click.echo(f"  Open the panel, signed in on {DEMO_DOMAIN} (the link works once, "
               f"within {minutes} minutes):")
    click.echo(f"  {panel_link}")
    click.echo(f"  Another link: APP_URL={base} ./dev flask accounts sign-in-link {DEMO_EMAIL}")
    click.echo("")
    click.echo(f"  health:    curl {base}/healthz")
    click.echo(f"  webhooks:  {base}/webhooks/shopify  (simulated {DEMO_DOMAIN}, ~{rate:g}/s)")
    click.echo(f"  API docs:  curl {base}/api/openapi.json")
    click.echo("  /api/customers needs an API key; one was created for the demo store:")
    click.echo(f'  curl -H "Authorization: Bearer {api_key}" "{base}/api/customers?per_page=5"')
    click.echo("  inbox:     ./dev flask inbox status --failed  (deliveries not applied)")
    click.echo("Press Ctrl-C to stop.\n")


def _wait_for_worker(shop_id: int) -> None:
    """A timed run: give the worker a moment to apply what was sent."""
    from app.inbox.service import counts

    deadline = time.monotonic() + CATCH_UP_SECONDS
    while time.monotonic() < deadline:
        with db.new_session() as s:
            if not counts(s, shop_id).get("pending", 0):
                return
        time.sleep(0.5)


def _run_live(app: Flask, *, rate: float, port: int, duration: float | None) -> None:
    import requests

    from app.shops.service import create_api_key, find_shop

    shop_id = demo_shop_id(app)
    with db.new_session() as s, s.begin():
        _, api_key = create_api_key(s, find_shop(s, DEMO_DOMAIN), "demo")
    sim = Simulator(known_customers=load_sim_customers(shop_id), rate=rate)
    gunicorn, flask_bin = _executables()
    env = subprocess_env(app)
    log_dir = Path(app.instance_path)
    log_dir.mkdir(parents=True, exist_ok=True)
    base = f"http://{HOST}:{port}"
    children: list[Child] = []

    previous_handler = None
    in_main = threading.current_thread() is threading.main_thread()

    def on_sigterm(signum, frame):  # noqa: ARG001
        raise _Stop()

    if in_main:
        previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    sent = redelivered = errors = 0
    try:
        check_port(port)  # again: seeding took a while, and the port may have been taken since
        web = start_child("web", web_argv(gunicorn, port), env, log_dir)
        children.append(web)
        children.append(start_child("worker", [str(flask_bin), "--app", "app", "worker"], env,
                                    log_dir))
        click.echo(f"Starting the web server on {base} and a worker "
                   f"(logs: {web.log_path}, {children[1].log_path})...")
        wait_until_serving(web, port)

        secret = app.config["SHOPIFY_API_SECRET"]
        api_version = app.config.get("SHOPIFY_API_VERSION") or "2026-10"
        _print_banner(base, rate, api_key, demo_sign_in_url(shop_id, base))

        http = requests.Session()
        url = f"{base}/webhooks/shopify"
        started = time.monotonic()
        next_send = next_status = started
        next_status += STATUS_EVERY
        while True:
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                break
            for child in children:
                if child.proc.poll() is not None:
                    raise exit_error(child, port if child is web else None)
            if now >= next_status:
                click.echo(status_line(shop_id, started, sent, redelivered, errors))
                next_status += STATUS_EVERY
            if now < next_send:
                time.sleep(min(next_send - now, 0.5))
                continue
            delivery = sim.next_delivery()
            try:
                response = http.post(url, data=delivery.body,
                                     headers=delivery.headers(secret, DEMO_DOMAIN, api_version),
                                     timeout=10)
                if response.status_code != 200:
                    errors += 1
                    if errors <= 5:
                        click.echo(f"  {delivery.topic}: HTTP {response.status_code} "
                                   f"{response.text.strip()[:200]}", err=True)
                else:
                    sent += 1
                    redelivered += delivery.redelivery
            except requests.RequestException as exc:
                errors += 1
                if errors <= 5:
                    click.echo(f"  {delivery.topic}: {type(exc).__name__}: {exc}", err=True)
            next_send += sim.rng.uniform(0.5, 1.5) / rate
            if next_send < now - 5:  # fell far behind (slow server): do not burst to catch up
                next_send = now
        if duration is not None:
            _wait_for_worker(shop_id)
            click.echo(status_line(shop_id, started, sent, redelivered, errors))
    except (KeyboardInterrupt, _Stop):
        click.echo("\nStopping...")
    finally:
        if in_main and previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
        stop_children(children)
        if children:
            click.echo("Stopped the web server and the worker.")
