"""What every authplane product shares about a region: its read models (Redis first, Postgres on
a Redis error), its signing keys, password preparation and hashing, and the stack file that says
where each region's stores and endpoints live."""
