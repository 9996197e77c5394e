"""History backfill benchmark: a Shopify bulk JSONL export imported through the real runner.

    python benchmarks/backfill.py [--orders 1000000] [--page-size N] [--profile]

A benchmark, not a test (see benchmarks/README.md). It generates bulk-operation result files
shaped like Shopify's (customers; orders with line items as `__parentId` child rows), stubs
only the Bulk API's HTTP calls (`benchmarks/stub_http.py`: the GraphQL endpoint answers like
Shopify and the result URLs stream the local files), runs `app.sync.backfill.run_backfill` into
PostgreSQL, then measures a plain `COPY` of the same rows into the same tables: the physical
limit. Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/sticky_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
SHOP_DOMAIN = "sticky-bench.myshopify.com"
API_VERSION = "2026-10"
RESULT_URL = "https://storage.googleapis.com/bulk-operation-outputs/{stage}.jsonl?Signature=x"
START = datetime(2022, 1, 1, tzinfo=UTC)
TITLES = ["Analytical Engine", "Punch Cards", "Compiler Manual", "Sticker", "Mug", "Pen",
          "Notebook", "Tote Bag"]


def rss_mb() -> float:
    """Current resident set size of this process, in MiB (from /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def postgres_cpu_seconds() -> float | None:
    """CPU time used so far by the local PostgreSQL server's processes (None if not visible)."""
    total, seen = 0, False
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as comm:
                if not comm.read().startswith("postgres"):
                    continue
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
        seen = True
    return total / os.sysconf("SC_CLK_TCK") if seen else None


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: str) -> dict:
    return {"shopMoney": {"amount": amount, "currencyCode": "USD"}}


def generate(directory: Path, orders: int, customers: int, seed: int) -> dict:
    """Write customers.jsonl and orders.jsonl (+ the CSVs COPY loads); return the counts."""
    import csv

    rng = random.Random(seed)
    counts = {"customers": customers, "orders": orders, "lines": 0}
    now = iso(datetime.now(UTC))
    with open(directory / "customers.jsonl", "w") as jsonl, \
            open(directory / "customers.csv", "w", newline="") as out:
        rows = csv.writer(out)
        for n in range(1, customers + 1):
            created = START + timedelta(minutes=n)
            email = f"customer{n}@example.com"
            jsonl.write(json.dumps({
                "id": f"gid://shopify/Customer/{n}", "firstName": f"First{n}",
                "lastName": f"Last{n}", "state": "ENABLED", "tags": ["bench"],
                "createdAt": iso(created), "updatedAt": iso(created),
                "defaultEmailAddress": {"emailAddress": email, "marketingState": "SUBSCRIBED",
                                        "marketingUpdatedAt": iso(created)},
                "defaultPhoneNumber": None,
                "defaultAddress": {"city": "Springfield", "countryCodeV2": "US", "phone": None},
            }, separators=(",", ":")) + "\n")
            rows.writerow([n, 1, str(n), email, email, f"First{n}", f"Last{n}", "Springfield",
                           "US", "bench", "enabled", "subscribed", iso(created), iso(created),
                           iso(created), 0, "0", 0, now, now])
    with open(directory / "orders.jsonl", "w") as jsonl, \
            open(directory / "orders.csv", "w", newline="") as orders_out, \
            open(directory / "order_lines.csv", "w", newline="") as lines_out:
        order_rows, line_rows = csv.writer(orders_out), csv.writer(lines_out)
        line_id = 0
        for n in range(1, orders + 1):
            customer = rng.randint(1, customers)
            placed = START + timedelta(minutes=n)
            n_lines = rng.choice((1, 2, 2, 3))  # about 2 per order
            lines = []
            for _ in range(n_lines):
                line_id += 1
                price = f"{rng.randint(5, 120)}.00"
                quantity = rng.randint(1, 3)
                lines.append((line_id, rng.choice(TITLES), quantity, price))
            subtotal = sum(int(p.split(".")[0]) * q for _, _, q, p in lines)
            total = f"{subtotal}.00"
            gid = f"gid://shopify/Order/{n}"
            jsonl.write(json.dumps({
                "id": gid, "name": f"#{n}", "email": f"customer{customer}@example.com",
                "createdAt": iso(placed), "processedAt": iso(placed), "updatedAt": iso(placed),
                "cancelledAt": None, "closedAt": None, "test": False, "currencyCode": "USD",
                "presentmentCurrencyCode": "USD", "displayFinancialStatus": "PAID",
                "displayFulfillmentStatus": "FULFILLED", "sourceName": "web", "discountCodes": [],
                "customer": {"id": f"gid://shopify/Customer/{customer}",
                             "defaultEmailAddress": {
                                 "emailAddress": f"customer{customer}@example.com"},
                             "firstName": f"First{customer}", "lastName": f"Last{customer}"},
                "totalPriceSet": money(total), "subtotalPriceSet": money(total),
                "totalTaxSet": money("0.00"), "totalDiscountsSet": money("0.00"),
                "totalShippingPriceSet": money("0.00"), "refunds": [],
            }, separators=(",", ":")) + "\n")
            order_rows.writerow([n, 1, customer, str(n), f"#{n}", f"customer{customer}@example.com",
                                 "USD", "USD", total, total, "0", "0", "0", "0", "paid",
                                 "fulfilled", "[]", "web", "f", iso(placed), iso(placed), now,
                                 now])
            for lid, title, quantity, price in lines:
                jsonl.write(json.dumps({
                    "id": f"gid://shopify/LineItem/{lid}", "title": title, "quantity": quantity,
                    "sku": f"SKU-{title[:3].upper()}", "variantTitle": None,
                    "originalUnitPriceSet": money(price), "totalDiscountSet": money("0.00"),
                    "product": {"id": "gid://shopify/Product/1"},
                    "variant": {"id": "gid://shopify/ProductVariant/1"},
                    "__parentId": gid,
                }, separators=(",", ":")) + "\n")
                line_rows.writerow([lid, 1, n, str(lid), "1", "1", f"SKU-{title[:3].upper()}",
                                    title, quantity, price, "0"])
            counts["lines"] += n_lines
    return counts


COPY_COLUMNS = {
    "customers": "id, shop_id, platform_customer_id, email, email_normalized, first_name, "
                 "last_name, city, country_code, tags, account_state, email_marketing, "
                 "email_marketing_updated_at, platform_created_at, platform_updated_at, "
                 "orders_count, total_spent, points_balance, created_at, updated_at",
    "orders": "id, shop_id, customer_id, platform_order_id, name, email, currency, "
              "presentment_currency, subtotal, total_price, total_tax, total_discounts, "
              "total_shipping, total_refunded, financial_status, fulfillment_status, "
              "discount_codes, source_name, test, placed_at, platform_updated_at, created_at, "
              "updated_at",
    "order_lines": "id, shop_id, order_id, platform_line_id, product_id, variant_id, sku, title, "
                   "quantity, price, total_discount",
}


def copy_load(url: str, directory: Path) -> float:
    """Empty the mirror tables, then COPY the same rows in; return the seconds it took."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain) as conn:
        conn.execute("TRUNCATE order_lines, refunds, orders, timeline_events, carts, customers "
                     "RESTART IDENTITY CASCADE")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            for table in ("customers", "orders", "order_lines"):
                with open(directory / f"{table}.csv", "rb") as source, cur.copy(
                        f"COPY {table} ({COPY_COLUMNS[table]}) FROM STDIN WITH (FORMAT csv)"
                ) as copy:
                    while chunk := source.read(1 << 20):
                        copy.write(chunk)
        conn.commit()
        return time.perf_counter() - started


def reset_database(url: str) -> None:
    from benchmarks.ingest import reset_database as reset

    reset(url)


def shopify_routes(directory: Path, counts: dict) -> dict:
    """Answer the Bulk API's calls like Shopify; stream the local files as the results."""
    endpoint = f"https://{SHOP_DOMAIN}/admin/api/{API_VERSION}/graphql.json"
    cost = {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10, "throttleStatus": {
        "maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}}}

    def graphql(request):
        body = json.loads(request.body)
        query, variables = body["query"], body.get("variables") or {}
        if "customersCount" in query:
            data = {"customersCount": {"count": counts["customers"]},
                    "ordersCount": {"count": counts["orders"]}}
        elif "bulkOperationRunQuery" in query:
            stage = "customers" if "customers {" in variables["query"] else "orders"
            data = {"bulkOperationRunQuery": {"bulkOperation": {
                "id": f"gid://shopify/BulkOperation/{stage}", "status": "CREATED"},
                "userErrors": []}}
        else:
            stage = variables["id"].rsplit("/", 1)[-1]
            data = {"node": {"id": variables["id"], "status": "COMPLETED", "errorCode": None,
                             "objectCount": "0", "rootObjectCount": str(counts[stage]),
                             "url": RESULT_URL.format(stage=stage), "partialDataUrl": None}}
        return 200, {}, json.dumps({"data": data, "extensions": cost})

    routes = {("POST", endpoint): graphql}
    for stage in ("customers", "orders"):
        def download(request, stage=stage):
            # An open file: handed to requests as the raw stream, read in chunks.
            return 200, {"Content-Type": "application/jsonl"}, \
                open(directory / f"{stage}.jsonl", "rb")  # noqa: SIM115 - closed by requests
        routes[("GET", RESULT_URL.format(stage=stage))] = download
    return routes


def run(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from app import create_app
    from app.db import db
    from app.migrate import upgrade
    from app.profiles.models import Customer, Order, OrderLine
    from app.queue import get_redis
    from app.shops.service import connect_shopify_by_token
    from app.sync.backfill import run_backfill
    from app.sync.sources import backfill_source_for as make_backfill_source
    from benchmarks.stub_http import stubbed

    customers = args.customers or max(1, args.orders // 5)
    workdir = Path(tempfile.mkdtemp(prefix="sticky-backfill-bench-"))
    print(f"generating {args.orders:,} orders, {customers:,} customers in {workdir} ...",
          flush=True)
    started = time.perf_counter()
    counts = generate(workdir, args.orders, customers, args.seed)
    size = sum((workdir / f"{s}.jsonl").stat().st_size for s in ("customers", "orders"))
    print(f"  {counts['lines']:,} line items, {size / 1e6:,.0f} MB of JSONL "
          f"({time.perf_counter() - started:.0f}s)", flush=True)

    reset_database(args.database_url)
    app = create_app({"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url,
                      "INSTANCE_PATH": str(workdir / "instance"),
                      "SECRET_KEY": "bench", "SHOPIFY_API_VERSION": API_VERSION})
    rss_marks: list[tuple[int, float]] = []
    with app.app_context():
        upgrade(app)
        get_redis().flushdb()
        shop = connect_shopify_by_token(db.session, SHOP_DOMAIN, "shpat_bench")
        db.session.commit()
        session = db.session
        source = make_backfill_source(session, shop, page_size=args.page_size, poll_interval=0)
        next_mark = [0]
        step = max(1, (customers + args.orders) // 10)

        def progress(run_row, page) -> None:
            if run_row.processed >= next_mark[0]:
                rss_marks.append((run_row.processed, rss_mb()))
                print(f"  {run_row.processed:>10,} / {run_row.total:,}  RSS {rss_mb():.0f} MiB",
                      flush=True)
                next_mark[0] += step

        profiler = cProfile.Profile() if args.profile else None
        rss_before = rss_mb()
        with stubbed(shopify_routes(workdir, counts)):
            pg_before, cpu_before = postgres_cpu_seconds(), os.times()
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            run_row = run_backfill(session, shop.id, source=source, on_progress=progress)
            if profiler:
                profiler.disable()
            elapsed = time.perf_counter() - started
            cpu_after, pg_after = os.times(), postgres_cpu_seconds()
        got = {name: session.execute(select(func.count()).select_from(model)).scalar_one()
               for name, model in (("customers", Customer), ("orders", Order),
                                   ("lines", OrderLine))}
        db.session.remove() if hasattr(db.session, "remove") else db.session.close()
    db.engine.dispose()

    ok = (got == counts and run_row.status == "completed"
          and run_row.processed == customers + args.orders)
    copy_seconds = copy_load(args.database_url, workdir)
    orders_per_s = args.orders / elapsed
    copy_orders_per_s = args.orders / copy_seconds
    print()
    print(f"backfill   {elapsed:8.1f} s   {orders_per_s:10,.0f} orders/s "
          f"({(customers + args.orders) / elapsed:,.0f} records/s, page size {args.page_size})")
    print(f"COPY       {copy_seconds:8.1f} s   {copy_orders_per_s:10,.0f} orders/s "
          "(customers + orders + order_lines, same rows, same tables)")
    print(f"ratio      {orders_per_s / copy_orders_per_s:8.3f}   of COPY speed (target >= 0.25)")
    own_cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    if pg_before is not None and pg_after is not None:
        pg_cpu = pg_after - pg_before
        print(f"CPU        backfill process {own_cpu:.1f} s + PostgreSQL {pg_cpu:.1f} s = "
              f"{own_cpu + pg_cpu:.1f} s of CPU in {elapsed:.1f} s ({os.cpu_count()} cores)")
    else:
        print(f"CPU        backfill process {own_cpu:.1f} s (PostgreSQL's not visible here)")
    print(f"RSS        before {rss_before:.0f} MiB; during: "
          + ", ".join(f"{n:,}: {mb:.0f}" for n, mb in rss_marks)
          + f"; peak {peak_rss_mb():.0f} MiB")
    print(f"mirror     {got} (expected {counts}) {'OK' if ok else 'MISMATCH'}")
    if profiler:
        print("\ncProfile, top 25 by cumulative time:")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
        print("top 20 by own time:")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())
    if not args.keep_files:
        for path in workdir.glob("*.*"):
            path.unlink()
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=None, help="default: orders / 5")
    from connectors.shopify.backfill import DEFAULT_PAGE_SIZE

    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE,
                        help=f"records per transaction (default: the app's, {DEFAULT_PAGE_SIZE})")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    parser.add_argument("--keep-files", action="store_true", help="keep the generated files")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url",
                        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
