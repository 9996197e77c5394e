"""The demo store's flows: every built-in installed, and the three that mail shoppers within
minutes of what the simulator does switched on (welcome, abandoned checkout, post-purchase),
so `./dev demo` fills the outbox (Flows → Outbox in the panel) while it runs.

Done once, when the built-ins are first installed: flows the merchant has since paused,
edited or switched off are left as they are. The demo's abandoned checkout writes after
5 minutes instead of an hour, so its first email shows up during a short demo.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.flows import builtins
from app.flows.models import LIVE
from app.flows.service import set_status, update_flow
from app.settings.service import read_settings, update_settings
from app.shops.models import Shop

DEMO_LIVE = ("welcome", "abandoned_checkout", "post_purchase")
# Flows send only from a store that has said which address its mail comes from; the demo's
# (an address of the reserved example domain: its mail stays in the outbox).
DEMO_SENDER = "hello@sticky-demo.example"
DEMO_CHECKOUT_WAIT_MINUTES = 5


def ensure_demo_flows(session: Session, shop_id: int) -> list[str]:
    """Install the built-ins; the first time, switch `DEMO_LIVE` on. Returns the keys it
    switched on (none once done). No commit."""
    created = {flow.key: flow for flow in builtins.install(session, shop_id)}
    switched = []
    for key in DEMO_LIVE:
        flow = created.get(key)
        if flow is None:
            continue
        if key == "abandoned_checkout":
            steps = [{**step, "minutes": DEMO_CHECKOUT_WAIT_MINUTES}
                     if step["id"] == "delay" else step for step in flow.definition["steps"]]
            update_flow(session, flow, {"steps": steps}, saved_by="demo")
        set_status(session, flow, LIVE)
        switched.append(key)
    return switched


def ensure_demo_sender(session: Session, shop_id: int) -> bool:
    """Give the demo store a sender address if it has none (so its flows send to the
    outbox). True when it was set. Commits."""
    shop = session.get(Shop, shop_id)
    if read_settings(session, shop).sender_email is not None:
        return False
    update_settings(session, shop, {"sender_email": DEMO_SENDER})
    return True
