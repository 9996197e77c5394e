"""A store's own settings in Sticky (sender identity, time zone, sending policy):
`GET|PUT /api/settings` and the panel's Settings page read and write them through here."""
