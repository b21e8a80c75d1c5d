"""The challenge server: teams, submissions, public/private leaderboards, caps, code runs.

Run it with ``unmask arena serve`` (an SQLite file and one embedded scoring worker by
default; ``UNMASK_DATABASE_URL=postgresql+psycopg://...`` for PostgreSQL and more workers).
See docs/arena.md.

    >>> from unmask.arena.main import create_app     # doctest: +SKIP
    >>> app = create_app()                             # doctest: +SKIP

This package is installed by the ``arena`` extra and is never imported by ``import unmask``.
Importing ``unmask.arena`` itself stays cheap: FastAPI and SQLAlchemy load in its submodules.
"""
