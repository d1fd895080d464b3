"""Disaster drills on a 3-region Kafka stack under a bounded steady load (``authplane drill``)."""
