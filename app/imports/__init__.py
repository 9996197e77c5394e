"""Migration import: customers and orders from another CRM's or email tool's CSV export.

    plan = read_and_plan(...)        # app.imports.planning: read, map, validate, dry-run report
    run_import(session, run_id)      # app.imports.apply: apply in chunks, resumable

The pieces, each one concern:
- `reading`: bytes → header and rows (encoding, delimiter, quoted fields, line numbers);
- `mapping`: which column is which field, guessed from the header, overridable;
- `values`: one cell → a value (email, date in the shop's zone, money, consent, country);
- `validate`: rows → import items (a customer, or an order with its lines) and rejections;
- `planning`: the dry-run report against the profiles the shop already has;
- `apply`: writing the items through the profile store, a chunk per transaction;
- `models`: the `import_runs` table; `cli`: `flask --app app import ...`.

Rules (stated once, here, and kept by the modules):
- A customer is matched by normalized email (trimmed, lower case) to the shop's profile with
  that email (a registered one before a guest). Lines with the same email inside one file:
  the LATER line wins (exports list older records first); earlier ones are reported as
  duplicates and not imported.
- Merging into an existing profile only FILLS EMPTY fields: whatever Sticky already holds
  (mirrored from the store's platform, or typed by the merchant) is never overwritten.
- Consent: the file states consent only on a line whose mapped consent column holds a
  recognisable yes/no value (blank or `pending` = unchanged; an unknown word rejects the
  line), or, when no such column is mapped, a consent date (an opt-in time is an opt-in).
  A stated consent is kept for a new profile; for an existing one it replaces Sticky's only
  when Sticky knows nothing dated (no consent date and never subscribed), or the file's
  consent date is later than Sticky's.
- Imported facts are history: they go on the timeline (a `customer_imported` fact marks an
  imported profile) and count in every figure, but are never published as domain events, so
  they award no points and start no flows.
- Orders are stored with platform order id `import:<the file's order id>`, which no platform
  id can collide with; an order the store's platform already sent Sticky (same id or name)
  is rejected rather than counted twice.
"""
