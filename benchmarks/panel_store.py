"""The panel benchmark's store: N customers and M orders, generated inside PostgreSQL.

One Shopify store, written the way the profile store would have written it, so the panel's
queries meet realistic data: registered customers and guests (no platform id), consent
states, 2.5 years of orders (a growing store; a few customers with hundreds of orders, most
with a handful, a quarter of the registered with none) with 1-4 lines from the demo store's
catalogue, about 5% refunded, 2% cancelled, some test orders, checkouts and carts since the
install (converted, abandoned, open), the timeline rows the profile store writes (the orders'
own rows by the app's own statement, `app.profiles.timeline._HISTORY_TIMELINE`), a few
merchant notes and tags, and a store time zone. Customer figures come from
`app.profiles.figures`.

Rows are made by `INSERT ... SELECT` over `generate_series` and a few temporary tables (the
statements are in `panel_store.sql`; the names are drawn in Python, weighted as Faker's
en_US lists are): nothing is sent row by row. Random draws come from `setseed`, so a seed
gives the same store. Importing this module has no side effects.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

SQL_FILE = Path(__file__).with_name("panel_store.sql")
LOADED_TABLES = ("customers", "orders", "order_lines", "refunds", "carts", "timeline_events",
                 "customer_notes", "customer_tags")
ORDER_PAGE = 50_000  # order ids per timeline statement (the import runs it per page of 5,000)
DOMAIN = "panel-bench-{customers}-{orders}.myshopify.com"
TIMEZONE = "America/New_York"
HISTORY_DAYS = 912  # 2.5 years of orders
INSTALLED_DAYS_AGO = 45  # checkouts and carts exist only since Sticky was installed
CITIES = (("New York", "US"), ("Los Angeles", "US"), ("Chicago", "US"), ("Houston", "US"),
          ("Phoenix", "US"), ("Philadelphia", "US"), ("San Antonio", "US"), ("Denver", "US"),
          ("Seattle", "US"), ("Portland", "US"), ("Austin", "US"), ("Boston", "US"),
          ("Atlanta", "US"), ("Miami", "US"), ("Minneapolis", "US"), ("Toronto", "CA"),
          ("Vancouver", "CA"), ("Montreal", "CA"), ("London", "GB"), ("Manchester", "GB"),
          ("Sydney", "AU"), ("Melbourne", "AU"), ("Berlin", "DE"), ("Paris", "FR"))
TAGS = ("VIP", "Wholesale", "Influencer", "Do not discount", "Local pickup", "Gift buyer")
NOTES = ("Prefers email over phone.", "Asked about the wholesale program.",
         "Damaged parcel in March; sent a replacement.", "Birthday in June.",
         "Repeat buyer of the coffee beans; offer the subscription.")


@dataclass(frozen=True)
class StoreSpec:
    customers: int
    orders: int
    seed: int = 7

    @property
    def domain(self) -> str:
        return DOMAIN.format(customers=self.customers, orders=self.orders)

    @property
    def name(self) -> str:
        """The store's name; also the marker that this seed's data, by this version of the
        generator, is complete (the shop row is written in the same transaction as its
        data)."""
        return (f"Panel bench: {self.customers:,} customers, {self.orders:,} orders, "
                f"seed {self.seed}, generator {generator_version()}")


def generator_version() -> str:
    """A digest of the generator's code: a store made by other code is not reused."""
    digest = hashlib.sha256(SQL_FILE.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:10]


def require_postgresql(url: str | None) -> str:
    """`url` if it is PostgreSQL's; else exit with what to pass instead."""
    if not url or not url.startswith(("postgresql", "postgres:")):
        raise SystemExit(
            f"the panel benchmark needs PostgreSQL, not {url or 'the default SQLite file'!r}: "
            "its figures are about PostgreSQL's plans at 100,000 customers. Pass "
            "--database-url postgresql://USER@HOST:PORT/DB (or set DATABASE_URL).")
    return url


def find_store(session: Session, spec: StoreSpec) -> int | None:
    """The id of this spec's complete store, if the database has it."""
    return session.execute(
        text("SELECT id FROM shops WHERE platform = 'shopify' AND domain = :d AND name = :n"),
        {"d": spec.domain, "n": spec.name}).scalar()


def other_stores(session: Session) -> list[str]:
    """Stores in the database that no benchmark generated."""
    return list(session.execute(
        text("SELECT domain FROM shops WHERE domain NOT LIKE 'panel-bench-%' ORDER BY id")
    ).scalars())


def store_counts(session: Session, shop_id: int) -> dict[str, int]:
    """Rows of the store, by table."""
    return {table: session.execute(text(
        f"SELECT count(*) FROM {table} WHERE shop_id = :s"),  # noqa: S608 - our table names
        {"s": shop_id}).scalar_one() for table in LOADED_TABLES}


def figure_mismatches(session: Session, shop_id: int) -> int:
    """Profiles whose stored figures differ from their orders (counted as
    `app.profiles.figures.counted_order` counts them: not cancelled, not voided, not test)."""
    return session.execute(text("""
SELECT count(*) FROM customers c
LEFT JOIN (SELECT customer_id, count(*) AS n, sum(total_price - total_refunded) AS spent,
                  min(placed_at) AS first, max(placed_at) AS last
           FROM orders WHERE shop_id = :s AND cancelled_at IS NULL AND NOT test
                         AND (financial_status IS NULL OR financial_status <> 'voided')
           GROUP BY customer_id) o ON o.customer_id = c.id
WHERE c.shop_id = :s AND (c.orders_count <> coalesce(o.n, 0)
      OR c.total_spent <> coalesce(o.spent, 0)
      OR c.first_order_at IS DISTINCT FROM o.first OR c.last_order_at IS DISTINCT FROM o.last
      OR c.average_order_value IS DISTINCT FROM round(o.spent / o.n, 4))"""),
        {"s": shop_id}).scalar_one()


def _people(spec: StoreSpec) -> dict[str, list[str]]:
    """Names and cities per customer, drawn in Python with the weights of Faker's lists."""
    from faker.providers.person.en_US import Provider

    rng = random.Random(spec.seed)
    first = rng.choices(list(Provider.first_names), weights=list(Provider.first_names.values()),
                        k=spec.customers)
    last = rng.choices(list(Provider.last_names), weights=list(Provider.last_names.values()),
                       k=spec.customers)
    places = rng.choices(CITIES, weights=[len(CITIES) - i for i in range(len(CITIES))],
                         k=spec.customers)
    return {"first": first, "last": last, "city": [c for c, _ in places],
            "country": [k for _, k in places]}


def _catalogue_rows() -> list[dict]:
    from app.demo.store import catalogue

    return [{"pid": str(p.product_id), "vid": str(p.variant_id), "sku": p.sku, "title": p.title,
             "vt": p.variant_title, "price": p.price, "weight": int(p.weight)}
            for p in catalogue()]


def generate_store(session: Session, spec: StoreSpec, *, now: datetime | None = None,
                   say: Callable[[str], None] = lambda line: None) -> int:
    """Write the spec's store in one transaction (committed here, then vacuumed and
    analyzed); returns the shop's id. `say` hears each step and its time."""
    from app.demo.store import FREE_SHIPPING_OVER, SHIPPING, TAX_RATE
    from app.profiles.figures import refresh_all_customer_figures
    from app.shops.service import connect_shopify_by_token

    now = (now or datetime.now(UTC)).replace(microsecond=0)
    shop = connect_shopify_by_token(session, spec.domain, "shpat_panel_bench")
    shop.name, shop.timezone, shop.currency = spec.name, TIMEZONE, "USD"
    shop.installed_at = now - timedelta(days=INSTALLED_DAYS_AGO)
    session.flush()
    conn = session.connection()
    params = {
        "shop": shop.id, "now": now, "start": now - timedelta(days=HISTORY_DAYS),
        "installed": shop.installed_at, "seed": (spec.seed % 1000) / 1000,
        "tax": TAX_RATE, "free_over": FREE_SHIPPING_OVER, "shipping": SHIPPING,
        "orders": spec.orders, "shop_domain": spec.domain, "tags": list(TAGS),
        "notes": list(NOTES), "tables": list(LOADED_TABLES), **_people(spec),
    }
    # One backend draws every random number, in one order; sorts and hashes stay in memory.
    for setting in ("max_parallel_workers_per_gather = 0", "work_mem = '256MB'",
                    "maintenance_work_mem = '512MB'"):
        conn.exec_driver_sql(f"SET LOCAL {setting}")
    conn.exec_driver_sql("SELECT setseed(%(seed)s)", params)
    conn.exec_driver_sql(
        "CREATE TEMP TABLE g_product (n int, pid text, vid text, sku text, title text, vt text,"
        " price numeric, weight int) ON COMMIT DROP")
    conn.exec_driver_sql(
        "INSERT INTO g_product VALUES (%(n)s, %(pid)s, %(vid)s, %(sku)s, %(title)s, %(vt)s,"
        " %(price)s, %(weight)s)",
        [{"n": i + 1, **row} for i, row in enumerate(_catalogue_rows())])

    def step(label: str, statements: list[str], values: dict | None = None) -> None:
        started = time.perf_counter()
        for statement in statements:
            conn.exec_driver_sql(statement, params if values is None else values)
        say(f"  {label:<36} {time.perf_counter() - started:6.1f} s")

    # Load as pg_restore does: indexes and keys are built once at the end, by sorting, rather
    # than grown row by row (same definitions, from the catalog; one transaction, so a
    # failure leaves the schema as it was).
    # That pays only when the new rows outnumber those already there (other stores).
    rebuild: list[str] = []
    if conn.exec_driver_sql("SELECT count(*) FROM orders").scalar_one() < spec.orders:
        rebuild = [row[0] for row in conn.exec_driver_sql(_SECONDARY_DEFINITIONS, params)]
        step("drop indexes and keys", [row[0] for row in
                                       conn.exec_driver_sql(_SECONDARY_DROPS, params)])
    for label, statements in steps():
        step(label, statements)
    started = time.perf_counter()
    _order_timeline(conn, shop.id)
    say(f"  {'timeline of orders':<36} {time.perf_counter() - started:6.1f} s")
    if rebuild:
        step("rebuild indexes and keys", rebuild, {})
    step("analyze", [f"ANALYZE {', '.join(LOADED_TABLES)}"], {})
    started = time.perf_counter()
    refresh_all_customer_figures(session, shop.id, chunk=20_000)
    say(f"  {'customer figures':<36} {time.perf_counter() - started:6.1f} s")
    session.commit()
    started = time.perf_counter()
    # Visibility map and statistics as autovacuum would leave them on a live store.
    with session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
        auto.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(LOADED_TABLES)}")
    say(f"  {'vacuum analyze':<36} {time.perf_counter() - started:6.1f} s")
    return shop.id


_SECONDARY = """
SELECT c.conrelid::regclass::text AS tab, c.conname AS name, c.contype AS kind,
       pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint c
WHERE c.conrelid = ANY(%(tables)s::regclass[]) AND c.contype IN ('f', 'u')
UNION ALL
SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, 'i',
       pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY(%(tables)s::regclass[]) AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"""
# Unique keys and indexes first, foreign keys last (their check wants the indexes).
_SECONDARY_DEFINITIONS = f"""
SELECT CASE kind WHEN 'i' THEN definition
       ELSE format('ALTER TABLE %%I ADD CONSTRAINT %%I %%s', tab, name, definition) END
FROM ({_SECONDARY}) AS s ORDER BY kind = 'f', tab, name"""  # noqa: S608 - no input in the text
_SECONDARY_DROPS = f"""
SELECT CASE kind WHEN 'i' THEN format('DROP INDEX %%I', name)
       ELSE format('ALTER TABLE %%I DROP CONSTRAINT %%I', tab, name) END
FROM ({_SECONDARY}) AS s ORDER BY kind <> 'f', tab, name"""  # noqa: S608 - no input in the text


def _order_timeline(conn, shop_id: int) -> None:
    """The orders' timeline rows, by the statement the profile store runs for history orders
    (`_HISTORY_TIMELINE`), for a range of order ids at a time."""
    from app.profiles.timeline import _HISTORY_TIMELINE, _ORDER_KINDS, PAID_STATES

    low, high = conn.exec_driver_sql(
        "SELECT min(id), max(id) FROM orders WHERE shop_id = %(shop)s", {"shop": shop_id}).one()
    for first in range(low or 0, (high or -1) + 1, ORDER_PAGE):
        last = min(high, first + ORDER_PAGE - 1)
        conn.exec_driver_sql(_HISTORY_TIMELINE, {
            "shop": shop_id, "ids": list(range(first, last + 1)), "low": first, "high": last,
            "paid_states": sorted(PAID_STATES), **_ORDER_KINDS})


def steps() -> list[tuple[str, list[str]]]:
    """The generator's steps from panel_store.sql: (label, statements), in order."""
    found: list[tuple[str, list[str]]] = []
    for part in SQL_FILE.read_text().split("\n-- step: ")[1:]:
        label, body = part.split("\n", 1)
        found.append((label.strip(), [s for s in body.split(";\n") if s.strip()]))
    return found
