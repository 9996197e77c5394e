"""The merchant's side of a customer: notes and tags added in the panel, the searchable,
filterable customer list shared by `/api/customers` and `/admin/customers`, and CSV export."""
