"""Segments: saved rules over the customer profiles, evaluated when asked (never stored lists).

- `rules`: the rule language (validation by path) and its compilation to one SQL WHERE;
- `models`: the `segments` table; `service`: saving, listing, the built-in RFM segments;
- `membership`: is one shopper in given segments (flow filters and split steps ask it).
"""
