"""The flow engine: flows as data (trigger, filters, steps), runs through them, and the
policy that decides whether a step's email goes out (consent, smart sending, quiet hours,
suppression, exit conditions), exactly once.

- `definition`: a flow's shape and its one validation; `conditions`: filters and splits.
- `service`: create, edit (versions), pause, resume.
- `models`: the tables and their natural keys.
"""
