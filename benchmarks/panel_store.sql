-- The panel benchmark's store, generated inside PostgreSQL (benchmarks/panel_store.py).
--
-- Run in order, in one transaction, each `-- step:` as a timed group of statements (one per
-- `;`). Parameters are psycopg's %(name)s, so a literal percent sign is written %%. Each
-- statement reads the temporary tables the ones before it made. Random draws are
-- materialized in a table before they are used twice (a volatile expression in a view or a
-- CASE would be drawn again).

-- step: people
CREATE TEMP TABLE g_draw ON COMMIT DROP AS
SELECT n::int AS n, first_name, last_name, city, country,
       random() AS r_guest, random() AS r_buyer, random() AS r_weight, random() AS r_since,
       random() AS r_life, random() AS r_round, random() AS r_consent, random() AS r_state,
       random() AS r_phone, random() AS r_tag, random() AS r_case, random() AS r_deleted,
       random() AS r_domain
FROM unnest(%(first)s::text[], %(last)s::text[], %(city)s::text[], %(country)s::text[])
     WITH ORDINALITY AS p (first_name, last_name, city, country, n);
-- Customers arrive steadily and stay active for a while (400 days on average); how often
-- they buy follows a Pareto law (most a few times), capped so the busiest have a few
-- hundred orders. A quarter of the registered never bought; guests exist by their orders.
CREATE TEMP TABLE g_person0 ON COMMIT DROP AS
SELECT d.*, r_guest < 0.12 AS guest,
       %(start)s::timestamptz + (%(now)s::timestamptz - %(start)s::timestamptz) * r_since
           AS since,
       -ln(1 - r_life) * 400 AS active_days,
       CASE WHEN r_guest >= 0.12 AND r_buyer < 0.25 THEN 0
            ELSE least(60, power(1 - r_weight, -1 / 1.6)) END AS rate
FROM g_draw d;
CREATE TEMP TABLE g_person ON COMMIT DROP AS
SELECT p.*, least(%(now)s::timestamptz, p.since + interval '1 day' * p.active_days) AS until,
       p.rate * (0.3 + least(p.active_days,
                             extract(epoch FROM %(now)s::timestamptz - p.since) / 86400) / 365)
           AS weight
FROM g_person0 p;

-- step: draw orders
-- Each person's count is their share of the orders (rounded at random), with 5%% to spare;
-- then exactly the orders asked for are kept, at random.
CREATE TEMP TABLE g_odraw ON COMMIT DROP AS
SELECT * FROM (
    SELECT p.n AS person, p.since, p.until, random() AS r_keep, random() AS r_when,
           random() AS r_lines, random() AS r_status, random() AS r_refund,
           random() AS r_partial, random() AS r_source, random() AS r_discount,
           random() AS r_nobody, random() AS r_test, random() AS r_fulfil, random() AS r_later
    FROM (SELECT *, weight * (%(orders)s * 1.05 + 20) / sum(weight) OVER () AS share
          FROM g_person) AS p
    CROSS JOIN LATERAL generate_series(1, floor(p.share + p.r_round)::int) AS i
) AS drawn ORDER BY r_keep LIMIT %(orders)s;
-- Ids as the platform and the mirror would have them: in order of time.
CREATE TEMP TABLE g_order ON COMMIT DROP AS
SELECT o.*, row_number() OVER (ORDER BY placed_at, r_keep) AS seq,
       1 + least(3, floor(4 * power(o.r_lines, 1.8)))::int AS n_lines,
       o.r_status < 0.02 AS cancelled, o.r_status >= 0.02 AND o.r_status < 0.03 AS pending,
       o.r_status >= 0.03 AND o.r_refund < 0.052 AS refunded
FROM (SELECT *, since + (until - since) * r_when AS placed_at FROM g_odraw) AS o;
ALTER TABLE g_order ADD PRIMARY KEY (seq);
ANALYZE g_person, g_order;

-- step: customers
-- Profile ids in the order profiles appeared (a guest appears with their first order).
CREATE TEMP TABLE g_base ON COMMIT DROP AS
SELECT nextval(pg_get_serial_sequence('customers', 'id')) AS customer,
       nextval(pg_get_serial_sequence('orders', 'id')) AS orders;
SELECT setval(pg_get_serial_sequence('customers', 'id'),
              (SELECT customer FROM g_base) + (SELECT count(*) FROM g_person) - 1);
SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT orders FROM g_base) + %(orders)s - 1);
CREATE TEMP TABLE g_cid ON COMMIT DROP AS
SELECT n, (SELECT customer FROM g_base) + row_number() OVER (ORDER BY seen, n) - 1 AS cid, seen
FROM (SELECT p.n, CASE WHEN p.guest THEN coalesce(f.first_at, p.since) ELSE p.since END AS seen
      FROM g_person p
      LEFT JOIN (SELECT person, min(placed_at) AS first_at FROM g_order GROUP BY person) f
             ON f.person = p.n) AS s;
ALTER TABLE g_cid ADD PRIMARY KEY (n);
ANALYZE g_cid;
INSERT INTO customers (id, shop_id, platform_customer_id, email, email_normalized, first_name,
    last_name, phone, city, country_code, tags, account_state, email_marketing,
    email_marketing_updated_at, platform_created_at, platform_updated_at, deleted_at,
    orders_count, total_spent, points_balance, created_at, updated_at)
SELECT c.cid, %(shop)s,
       CASE WHEN p.guest THEN NULL ELSE (6200000000000 + p.n)::text END,
       e.email, lower(e.email), p.first_name, p.last_name,
       CASE WHEN p.r_phone < 0.4 THEN '+1 555 ' || lpad((p.n::bigint * 7919 %% 10000000)::text, 7, '0')
       END,
       p.city, p.country,
       CASE WHEN p.r_tag < 0.04 THEN 'wholesale' WHEN p.r_tag < 0.07 THEN 'newsletter, vip' END,
       CASE WHEN p.guest THEN NULL WHEN p.r_state < 0.6 THEN 'enabled'
            WHEN p.r_state < 0.95 THEN 'disabled' ELSE 'invited' END,
       CASE WHEN p.r_consent < 0.45 THEN 'subscribed' WHEN p.r_consent < 0.57 THEN 'unsubscribed'
            ELSE 'not_subscribed' END,
       CASE WHEN p.r_consent < 0.57 THEN c.seen + (%(now)s::timestamptz - c.seen)
                                                  * (p.r_consent / 0.57) END,
       CASE WHEN NOT p.guest THEN c.seen END, c.seen,
       CASE WHEN NOT p.guest AND p.r_deleted < 0.003 THEN %(now)s::timestamptz END,
       0, 0, 0, greatest(%(installed)s::timestamptz, c.seen), %(now)s
FROM g_person p JOIN g_cid c USING (n)
CROSS JOIN LATERAL (SELECT
    CASE WHEN p.r_case < 0.15 THEN p.first_name || '.' || p.last_name
         ELSE lower(p.first_name || '.' || p.last_name) END || p.n || '@'
    || (ARRAY['gmail.com', 'gmail.com', 'gmail.com', 'yahoo.com', 'outlook.com', 'icloud.com',
              'hotmail.com', 'proton.me', 'fastmail.com'])[1 + floor(p.r_domain * 9)::int]
    AS email) AS e;
ANALYZE customers;

-- step: order lines
CREATE TEMP TABLE g_slot ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY n, i) AS slot, n AS product
FROM g_product CROSS JOIN LATERAL generate_series(1, weight) AS i;
CREATE TEMP TABLE g_line0 ON COMMIT DROP AS
SELECT o.seq, 1 + floor(random() * (SELECT count(*) FROM g_slot))::int AS slot,
       CASE WHEN random() < 0.82 THEN 1 ELSE 2 + (random() < 0.25)::int END AS quantity
FROM g_order o CROSS JOIN LATERAL generate_series(1, o.n_lines) AS i;
CREATE TEMP TABLE g_line ON COMMIT DROP AS
SELECT l.seq, l.quantity, p.* FROM g_line0 l JOIN g_slot s USING (slot)
JOIN g_product p ON p.n = s.product;
CREATE TEMP TABLE g_money ON COMMIT DROP AS
SELECT seq, code, discount, subtotal, shipping, tax, total,
       CASE WHEN NOT refunded THEN NULL WHEN r_partial < 0.4 THEN total
            ELSE round(total * (0.1 + 0.5 * r_later)::numeric, 2) END AS refund
FROM (SELECT *, subtotal + shipping + tax AS total
      FROM (SELECT *, CASE WHEN subtotal >= %(free_over)s THEN 0 ELSE %(shipping)s END
                          AS shipping, round(subtotal * %(tax)s, 2) AS tax
            FROM (SELECT *, items - discount AS subtotal
                  FROM (SELECT o.seq, o.refunded, o.r_partial, o.r_later, t.items, d.code,
                               round(t.items * d.pct, 2) AS discount
                        FROM g_order o
                        JOIN (SELECT seq, sum(price * quantity) AS items FROM g_line
                              GROUP BY seq) AS t USING (seq)
                        CROSS JOIN LATERAL (SELECT
                            CASE WHEN o.r_discount < 0.08 THEN 'WELCOME10'
                                 WHEN o.r_discount < 0.11 THEN 'VIP15'
                                 WHEN o.r_discount < 0.13 THEN 'SUMMER10' END AS code,
                            CASE WHEN o.r_discount < 0.08 THEN 0.10
                                 WHEN o.r_discount < 0.11 THEN 0.15
                                 WHEN o.r_discount < 0.13 THEN 0.10 ELSE 0 END AS pct) AS d
                       ) AS a) AS b) AS c) AS m;
ALTER TABLE g_money ADD PRIMARY KEY (seq);
ANALYZE g_line, g_money;

-- step: orders
CREATE TEMP TABLE g_times ON COMMIT DROP AS
SELECT seq, least(%(now)s::timestamptz, placed_at + interval '1 day' * (1 + 20 * r_later))
           AS refunded_at,
       CASE WHEN NOT cancelled AND placed_at < %(now)s::timestamptz - interval '2 days'
                 AND r_fulfil < 0.97 THEN
            least(%(now)s::timestamptz, placed_at + interval '1 hour' * (6 + 60 * r_fulfil))
       END AS fulfilled_at,
       CASE WHEN cancelled THEN placed_at + interval '1 hour' * (1 + 40 * r_later) END
           AS cancelled_at
FROM g_order;
INSERT INTO orders (id, shop_id, customer_id, platform_order_id, name, email, currency,
    presentment_currency, subtotal, total_price, total_tax, total_discounts, total_shipping,
    total_refunded, financial_status, fulfillment_status, discount_codes, source_name,
    checkout_token, cart_token, test, placed_at, cancelled_at, closed_at, platform_updated_at,
    created_at, updated_at)
SELECT (SELECT orders FROM g_base) + o.seq - 1, %(shop)s,
       c.id, (5100000000000 + o.seq)::text, '#' || (1000 + o.seq), c.email, 'USD', 'USD',
       m.subtotal, m.total, m.tax, m.discount, m.shipping, coalesce(m.refund, 0),
       CASE WHEN o.cancelled THEN 'voided' WHEN o.pending THEN 'pending'
            WHEN m.refund = m.total THEN 'refunded' WHEN o.refunded THEN 'partially_refunded'
            ELSE 'paid' END,
       CASE WHEN t.fulfilled_at IS NOT NULL THEN 'fulfilled' END,
       CASE WHEN m.code IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(m.code) END,
       CASE WHEN o.r_source < 0.85 THEN 'web' WHEN o.r_source < 0.9 THEN 'pos'
            WHEN o.r_source < 0.93 THEN 'shopify_draft_order' ELSE 'iphone' END,
       CASE WHEN o.r_source < 0.85 AND o.placed_at >= %(installed)s::timestamptz
            THEN md5('checkout' || o.seq) END,
       CASE WHEN o.r_source < 0.85 AND o.placed_at >= %(installed)s::timestamptz
            THEN md5('cart' || o.seq) END,
       o.r_test < 0.003, o.placed_at, t.cancelled_at, t.fulfilled_at,
       coalesce(CASE WHEN o.refunded THEN t.refunded_at END, t.cancelled_at, t.fulfilled_at,
                o.placed_at),
       greatest(%(installed)s::timestamptz, o.placed_at),
       greatest(%(installed)s::timestamptz, o.placed_at)
FROM g_order o JOIN g_money m USING (seq) JOIN g_times t USING (seq)
LEFT JOIN g_cid gc ON gc.n = o.person AND o.r_nobody >= 0.01  -- 1%% walk-ins: no one
LEFT JOIN customers c ON c.id = gc.cid
ORDER BY o.seq;
ANALYZE g_times, orders;
INSERT INTO order_lines (shop_id, order_id, platform_line_id, product_id, variant_id, sku,
    title, variant_title, quantity, price, total_discount)
SELECT %(shop)s, o.id, (14200000000000 + row_number() OVER (ORDER BY l.seq))::text, l.pid,
       l.vid, l.sku, l.title, l.vt, l.quantity, l.price, 0
FROM g_line l JOIN orders o ON o.shop_id = %(shop)s
                          AND o.platform_order_id = (5100000000000 + l.seq)::text;
INSERT INTO refunds (shop_id, platform_refund_id, platform_order_id, amount, note, refunded_at,
    created_at)
SELECT %(shop)s, (8200000000000 + o.seq)::text, (5100000000000 + o.seq)::text, m.refund,
       CASE WHEN m.refund = m.total THEN 'Returned' ELSE 'Damaged item' END, t.refunded_at,
       greatest(%(installed)s::timestamptz, t.refunded_at)
FROM g_order o JOIN g_money m USING (seq) JOIN g_times t USING (seq)
WHERE o.refunded;
ANALYZE order_lines, refunds;

-- step: checkouts and carts
-- Since the install: a checkout behind each web order, and abandoned or open ones beside.
INSERT INTO carts (shop_id, customer_id, kind, token, cart_token, email, currency,
    total_price, line_items, recovery_url, status, converted_order_id, platform_created_at,
    platform_updated_at, completed_at, created_at)
SELECT %(shop)s, o.customer_id, 'checkout', o.checkout_token, o.cart_token, o.email, 'USD',
       o.total_price, li.items, NULL, 'converted', o.id,
       o.placed_at - interval '9 minutes', o.placed_at, o.placed_at, o.placed_at
FROM orders o
JOIN (SELECT l.order_id,
             jsonb_agg(jsonb_build_object('title', l.title, 'variant_title', l.variant_title,
                                          'quantity', l.quantity,
                                          'price', round(l.price, 2)::text,
                                          'product_id', l.product_id,
                                          'variant_id', l.variant_id, 'sku', l.sku)
                       ORDER BY l.id) AS items
      FROM order_lines l JOIN orders lo ON lo.id = l.order_id
      WHERE lo.shop_id = %(shop)s AND lo.checkout_token IS NOT NULL
      GROUP BY l.order_id) AS li ON li.order_id = o.id
WHERE o.shop_id = %(shop)s AND o.checkout_token IS NOT NULL;
CREATE TEMP TABLE g_abandon ON COMMIT DROP AS
SELECT k, (SELECT count(*) FROM g_cid) AS people, random() AS r_who, random() AS r_when,
       random() AS r_kind, random() AS r_anonymous, random() AS r_quantity,
       1 + floor(random() * (SELECT count(*) FROM g_slot))::int AS slot
FROM generate_series(1, (SELECT count(*) * 7 / 10 FROM orders
                         WHERE shop_id = %(shop)s AND checkout_token IS NOT NULL)) AS k;
INSERT INTO carts (shop_id, customer_id, kind, token, cart_token, email, currency,
    total_price, line_items, recovery_url, status, platform_created_at, platform_updated_at,
    abandoned_at, created_at)
SELECT %(shop)s, c.id, kind, md5('abandoned' || a.k), NULL, c.email, 'USD',
       p.price * quantity,
       jsonb_build_array(jsonb_build_object('title', p.title, 'variant_title', p.vt,
                                            'quantity', quantity, 'price', p.price::text,
                                            'product_id', p.pid, 'variant_id', p.vid,
                                            'sku', p.sku)),
       CASE WHEN kind = 'checkout' THEN 'https://' || %(shop_domain)s || '/checkouts/'
            || md5('abandoned' || a.k) || '/recover' END,
       CASE WHEN at > %(now)s::timestamptz - interval '1 hour' OR c.id IS NULL THEN 'open'
            ELSE 'abandoned' END,
       at, at,
       CASE WHEN at <= %(now)s::timestamptz - interval '1 hour' AND c.id IS NOT NULL
            THEN at + interval '1 hour' END,
       at
FROM g_abandon a
CROSS JOIN LATERAL (SELECT %(installed)s::timestamptz
                           + (%(now)s::timestamptz - %(installed)s::timestamptz) * a.r_when
                           AS at,
                           CASE WHEN a.r_kind < 0.8 THEN 'checkout' ELSE 'cart' END AS kind,
                           1 + (a.r_quantity < 0.2)::int AS quantity) AS x
JOIN g_slot s ON s.slot = a.slot JOIN g_product p ON p.n = s.product
LEFT JOIN g_cid gc ON gc.n = 1 + floor(a.r_who * a.people)::int AND a.r_anonymous >= 0.2
LEFT JOIN customers c ON c.id = gc.cid;

-- step: timeline (not orders)
INSERT INTO timeline_events (shop_id, customer_id, kind, ref, occurred_at, data)
SELECT %(shop)s, id, 'customer_created', coalesce(platform_customer_id,
       'guest:' || email_normalized), coalesce(platform_created_at, platform_updated_at),
       '{}'::jsonb
FROM customers WHERE shop_id = %(shop)s;
INSERT INTO timeline_events (shop_id, customer_id, kind, ref, occurred_at, data)
SELECT %(shop)s, id, 'email_marketing_changed',
       email_marketing || ':' || to_char(email_marketing_updated_at AT TIME ZONE 'UTC',
                                         'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
       email_marketing_updated_at, jsonb_build_object('email_marketing', email_marketing)
FROM customers WHERE shop_id = %(shop)s AND email_marketing_updated_at IS NOT NULL;
INSERT INTO timeline_events (shop_id, customer_id, kind, ref, occurred_at, data)
SELECT %(shop)s, o.customer_id, 'refund_created', r.platform_refund_id, r.refunded_at,
       jsonb_build_object('order_id', o.id, 'name', o.name, 'amount', r.amount::text,
                          'currency', o.currency)
FROM refunds r JOIN orders o ON o.shop_id = r.shop_id
                            AND o.platform_order_id = r.platform_order_id
WHERE r.shop_id = %(shop)s AND o.customer_id IS NOT NULL;
INSERT INTO timeline_events (shop_id, customer_id, kind, ref, occurred_at, data)
SELECT %(shop)s, customer_id, 'checkout_started', token, platform_created_at,
       jsonb_build_object('total_price', round(total_price, 2)::text, 'currency', currency)
FROM carts WHERE shop_id = %(shop)s AND kind = 'checkout' AND customer_id IS NOT NULL;
INSERT INTO timeline_events (shop_id, customer_id, kind, ref, occurred_at, data)
SELECT %(shop)s, customer_id, 'cart_abandoned', kind || ':' || token, abandoned_at,
       jsonb_build_object('cart_id', id, 'total_price', round(total_price, 2)::text,
                          'currency', currency, 'recovery_url', recovery_url)
FROM carts WHERE shop_id = %(shop)s AND status = 'abandoned';
ANALYZE carts, timeline_events;

-- step: notes and tags
-- A merchant's notes on 0.5%% of profiles and on the 20 best customers; tags on 4%%.
INSERT INTO customer_notes (shop_id, customer_id, body, author, created_at)
SELECT %(shop)s, c.id, (%(notes)s::text[])[1 + (c.id + i) %% cardinality(%(notes)s::text[])],
       'owner@panel-bench.example.com',
       %(now)s::timestamptz - interval '1 day' * (i * 3 + c.id %% 30)
FROM customers c CROSS JOIN LATERAL generate_series(1, 1 + (c.id %% 3)::int) AS i
WHERE c.shop_id = %(shop)s AND (c.id %% 200 = 0 OR c.id IN (
    SELECT customer_id FROM orders WHERE shop_id = %(shop)s AND customer_id IS NOT NULL
    GROUP BY customer_id ORDER BY count(*) DESC LIMIT 20));
INSERT INTO customer_tags (shop_id, customer_id, tag, tag_normalized, created_at)
SELECT DISTINCT ON (c.id, t.tag) %(shop)s, c.id, t.tag, lower(t.tag), %(now)s::timestamptz
FROM customers c
CROSS JOIN LATERAL (SELECT (%(tags)s::text[])[1 + (c.id * j * 31 %% cardinality(%(tags)s::text[]))]
                    AS tag FROM generate_series(1, 1 + (c.id %% 2)::int) AS j) AS t
WHERE c.shop_id = %(shop)s AND c.id %% 25 = 0;
