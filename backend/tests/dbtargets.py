"""Databases for storage tests: a temporary SQLite file, or a fresh schema in a real
PostgreSQL (``LIKENESS_TEST_DATABASE_URL``, default the local server's ``test``
database). PostgreSQL being unreachable FAILS the test run: never a skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from likeness.storage.db import make_engine

PG_URL = os.environ.get("LIKENESS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose connections use a brand-new schema (``search_path``), dropped at
    the end, so test runs never see each other's tables."""
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    schema = f"likeness_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(PG_URL).render_as_string()}: "
            f"{exc.orig}. Start it (.ci/run does) or set LIKENESS_TEST_DATABASE_URL.",
            pytrace=False,
        )
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'likeness-test.db'}"
    elif backend == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        raise ValueError(backend)
