"""Email: templates rendered in Jinja2's sandbox, CSS inlined, a plain-text part, the MIME
message with its unsubscribe headers, signed tracking and unsubscribe tokens, and the
transport (SMTP_URL, one connection reused across messages; without it, the local outbox).

The flow engine (app/flows) decides who gets what and when; this package only turns a step
and its variables into a message and hands it to the server.
"""
