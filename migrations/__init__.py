"""Alembic migrations of the Postgres read models (``schemas/tables.py``).

Apply them with ``migrations.runner.upgrade(dsn)``; ``alembic -c migrations/alembic.ini`` works
too for hand-run commands (set ``sqlalchemy.url`` with ``-x dsn=...``).
"""
