"""Alembic migrations of the aggregator database (run by ``blindsum.aggregator.db.upgrade``)."""
