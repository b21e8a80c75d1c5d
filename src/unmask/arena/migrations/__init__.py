"""Alembic migrations of the arena schema (applied by ``unmask arena serve``)."""
