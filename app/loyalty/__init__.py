"""The loyalty program: a points ledger that is never wrong, earning rules, tiers, rewards as
real discount codes, referrals and the storefront rewards widget.

- `models`: the tables. `program`: the store's settings and their versions, and the rounding
  rule. `ledger`: entries under natural keys and the balances they add up to.
- `subscriber`: the domain-event subscriber that earns and takes back points; `merge`: a
  guest's points follow them into their account; `notices`: facts published for flows.
- `redeem`: points for a single-use discount code (held, made by `issuing` through
  `platform`, then taken); `writeback`: balance and tier told to the platform.
"""
