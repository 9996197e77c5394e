"""Email: templates rendered in Jinja2's sandbox (`render`), CSS inlined, a plain-text part
(`text`), the MIME message with its unsubscribe headers, open pixel and click redirects
(`compose`), signed tokens for those links (`tokens`), and the transport (`transport`:
SMTP_URL, one connection reused across messages; without it, the local outbox).

The flow engine (app/flows) decides who gets what and when; this package only turns a step
and its variables into a message and hands it to the server. What the links do when a
shopper follows them (record an open or a click, unsubscribe) works on flows' messages and
runs, so it lives with them: app/flows/tracking_views.py, engagement.py and unsubscribe.py.
This package imports nothing from app/flows.
"""
