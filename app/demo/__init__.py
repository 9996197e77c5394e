"""`flask --app app demo`: a demo store with history, then web + worker + a live store.

The package, by what a newcomer would look for:
- `store.py`: the demo store itself: its domain, currency, catalogue and baskets;
- `seeder.py`: its two-year history, written through the profile store;
- `simulator.py`: the live stream of signed Shopify webhooks (what happens when), and
  `payloads.py`: what each delivery looks like (Shopify's sample payloads, filled in);
- `processes.py`: the web server and worker processes, and the port they listen on;
- `runner.py`: `run_demo`, which puts it together, with the status line.

The demo store never leaves this machine: it is marked `shops.demo`, and every path that
would call Shopify skips it (app/shops/outbound.py).
"""

from app.demo.payloads import SimCustomer, SimOrder, fixture
from app.demo.runner import run_demo
from app.demo.seeder import SeedStats, demo_shop_id, generate_history, seed_demo
from app.demo.simulator import SIM_TOPICS, Delivery, Simulator
from app.demo.store import DEMO_CURRENCY, DEMO_DOMAIN, DemoError, catalogue

__all__ = [
    "DEMO_CURRENCY", "DEMO_DOMAIN", "SIM_TOPICS", "Delivery", "DemoError", "SeedStats",
    "SimCustomer", "SimOrder", "Simulator", "catalogue", "demo_shop_id", "fixture",
    "generate_history", "run_demo", "seed_demo",
]
