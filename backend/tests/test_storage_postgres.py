"""Schema migrations and storage rules on SQLite AND a real PostgreSQL, and the whole
service (Gunicorn, 2 workers, buffalo_s) over HTTP on PostgreSQL. PostgreSQL being
unreachable fails these tests (``dbtargets``), it never skips them."""

from __future__ import annotations

import pytest
import requests
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from likeness.storage import Database
from likeness.storage.db import MIGRATIONS
from likeness.storage.feedback import FeedbackStore
from likeness.storage.models import Feedback, Verification, VerificationCrops

from dbtargets import BACKENDS, database_url, postgres_schema
from support import GunicornServer

TABLES = {"verifications", "feedback", "verification_crops"}


def script_heads() -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return set(ScriptDirectory.from_config(config).get_heads())


def applied(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def downgrade(db: Database, revision: str) -> None:
    from alembic import command

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    with database_url(request.param, tmp_path) as url:
        database = Database(url)
        yield database
        database.dispose()


def add_verification(db: Database, vid: str = "a" * 32) -> str:
    with db.session() as session:
        session.add(
            Verification(
                id=vid,
                model_pack="buffalo_s",
                model_version="0" * 64,
                similarity=0.7,
                threshold=0.28,
                is_match=True,
                face_policy="largest",
                embedding1=b"\0" * 2048,
                embedding2=b"\1" * 2048,
            )
        )
    return vid


def test_migrations_fresh_then_idempotent(db):
    assert inspect(db.engine).get_table_names() == []
    db.migrate()
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    assert applied(db) == script_heads()
    assert "0002_feedback" in _ancestry(script_heads())
    columns = {c["name"] for c in inspect(db.engine).get_columns("feedback")}
    assert {"verification_id", "vote", "comment", "embedding1", "crop1"} <= columns

    vid = add_verification(db)
    FeedbackStore(db).submit(vid, "up", "kept across runs")
    db.migrate()  # second run: nothing to do, data untouched
    assert applied(db) == script_heads()
    assert FeedbackStore(db).get(vid).comment == "kept across runs"


def _ancestry(heads: set[str]) -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    return {rev.revision for head in heads for rev in script.walk_revisions("base", head)}


def test_downgrade_to_0001_and_back(db):
    db.migrate()
    downgrade(db, "0001_verifications")
    names = set(inspect(db.engine).get_table_names())
    assert "verifications" in names and not ({"feedback", "verification_crops"} & names)
    assert applied(db) == {"0001_verifications"}
    db.migrate()
    assert set(inspect(db.engine).get_table_names()) >= TABLES


def test_foreign_keys_and_constraints(db):
    db.migrate()
    vid = add_verification(db)
    with db.session() as session:
        session.add(VerificationCrops(verification_id=vid, crop1=b"j1", crop2=b"j2"))
    record = FeedbackStore(db).submit(vid, "down").record
    assert record.crop1 == b"j1"  # copied at vote time

    with pytest.raises(IntegrityError), db.session() as session:  # vote is checked by the DB
        session.execute(text("UPDATE feedback SET vote = 'maybe'"))
    with pytest.raises(IntegrityError), db.session() as session:  # crops need a verification
        session.add(VerificationCrops(verification_id="b" * 32, crop1=b"", crop2=b""))

    # Deleting a verification drops its crops and unlinks (keeps) its feedback.
    with db.session() as session:
        session.execute(Verification.__table__.delete().where(Verification.id == vid))
    with db.session() as session:
        assert session.get(VerificationCrops, vid) is None
        kept = session.scalars(select(Feedback)).one()
    assert kept.verification_id is None and kept.vote == "down" and kept.embedding1


def test_service_on_postgresql_over_http(model_root, tmp_path, lfw):
    """Gunicorn's master migrates a fresh PostgreSQL schema; two workers record
    verifications and feedback in it."""
    with postgres_schema() as url:
        server = GunicornServer(model_root, tmp_path / "srv", workers=2)
        server.env["LIKENESS_DATABASE_URL"] = url
        server.start()
        try:
            files = {
                "image1": lfw("Abel_Pacheco", 1).read_bytes(),
                "image2": lfw("Abel_Pacheco", 4).read_bytes(),
            }
            ids = []
            for _ in range(4):  # spread over both workers
                response = requests.post(f"{server.url}/api/verify", files=files, timeout=30)
                assert response.status_code == 200, response.text
                ids.append(response.json()["verification_id"])
            for vid in ids:
                vote = requests.post(
                    f"{server.url}/api/feedback",
                    json={"verification_id": vid, "vote": "up"},
                    timeout=10,
                )
                assert vote.status_code == 201, vote.text
            changed = requests.post(
                f"{server.url}/api/feedback",
                json={"verification_id": ids[0], "vote": "down"},
                timeout=10,
            )
            assert changed.status_code == 200
            export = requests.get(f"{server.url}/api/feedback/export?format=jsonl", timeout=10)
            assert export.status_code == 200
            lines = export.text.splitlines()
            assert len(lines) == 4 and '"vote":"down"' in lines[0]
            assert "database ready: postgresql" in server.log()
        finally:
            server.stop()
        db = Database(url)
        try:
            assert applied(db) == script_heads()
            assert FeedbackStore(db).count() == 4
        finally:
            db.dispose()
