"""The read side: projections of the event log into each region's Redis and Postgres."""
