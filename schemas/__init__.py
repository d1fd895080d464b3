"""The contract between authplane's processes: events, their codec, and every shared name.

Nothing in this package imports any other authplane package.
"""
