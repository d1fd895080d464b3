"""Recovery tools driven by the same reducers as the live projector.

``python -m streams.replay replay|checksum|verify|reseed`` (``authplane`` runs it as a child):
rebuild a region's projections from the log, fingerprint them, check them against the log, and
refill an empty log from a region's event archive.
"""
