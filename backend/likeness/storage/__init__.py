"""Persistence through SQLAlchemy: SQLite by default, PostgreSQL by URL."""

from likeness.storage.db import Base, Database

__all__ = ["Base", "Database"]
