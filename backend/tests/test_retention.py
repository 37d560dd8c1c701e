"""Retention (issue 10): an unvoted verification's embeddings are cleared after
24 hours, records and crops deleted after their maximum age, votes on a cleared
verification refused; ``likeness purge`` audited. SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import select

from likeness.errors import VerificationNotFoundError
from likeness.settings import Settings
from likeness.storage import Database
from likeness.storage.audit import AuditLog
from likeness.storage.feedback import FeedbackStore
from likeness.storage.models import Feedback, Search, Verification, VerificationCrops, utcnow
from likeness.storage.retention import purge
from likeness.storage.search_feedback import SearchRecords


def add_verification(db, vid: str, age: timedelta, crops: bool = False) -> None:
    with db.session() as session:
        session.add(
            Verification(
                id=vid,
                created_at=datetime.now(timezone.utc) - age,
                model_pack="buffalo_s",
                model_version="x" * 64,
                similarity=0.5,
                threshold=0.28,
                is_match=True,
                face_policy="largest",
                embedding1=b"\x01" * 2048,
                embedding2=b"\x02" * 2048,
            )
        )
    if crops:
        with db.session() as session:
            session.add(VerificationCrops(verification_id=vid, crop1=b"j", crop2=b"k"))


def test_purge_follows_the_retention_settings(db_url):
    db = Database(db_url)
    add_verification(db, "fresh", timedelta(hours=1))
    add_verification(db, "unvoted", timedelta(hours=30))
    add_verification(db, "voted", timedelta(hours=30))
    add_verification(db, "old", timedelta(days=40), crops=True)
    add_verification(db, "crops", timedelta(days=10), crops=True)
    FeedbackStore(db).submit("voted", "up")
    records = SearchRecords(db, "buffalo_s", "v")
    fresh_search = records.record(np.ones((2, 4), np.float32), 0.4, [[], []])
    old_search = records.record(np.ones((1, 4), np.float32), 0.4, [[]])
    with db.session() as session:
        session.get(Search, old_search).created_at = utcnow() - timedelta(hours=30)
    report = purge(db, Settings(feedback_crops_max_days=7))
    assert report.as_dict() == {
        "embeddings_cleared": 3,  # "unvoted", "crops" and "old" (unvoted, past 24 h)
        "verifications_deleted": 1,  # "old" (past 30 days)
        "searches_deleted": 1,  # kept only to be voted on, for 24 h
        "crops_deleted": 2,  # "crops" and "old": past the voting window
        "votes_deleted": 0,  # votes are kept unless feedback_max_days says otherwise
    }
    with db.session() as session:
        assert [s.id for s in session.scalars(select(Search))] == [fresh_search]
    with db.session() as session:
        rows = {v.id: v for v in session.scalars(select(Verification))}
        assert set(rows) == {"fresh", "unvoted", "voted", "crops"}
        assert rows["fresh"].embedding1 and rows["voted"].embedding1
        assert rows["unvoted"].embedding1 == b"" and rows["unvoted"].embedding2 == b""
        assert session.scalars(select(VerificationCrops)).all() == []
    with pytest.raises(VerificationNotFoundError, match="too old"):
        FeedbackStore(db).submit("unvoted", "down")
    assert FeedbackStore(db).get("voted").vote == "up"  # the vote keeps its own copy
    assert purge(db, Settings()).as_dict() == {
        "embeddings_cleared": 0,
        "verifications_deleted": 0,
        "searches_deleted": 0,
        "crops_deleted": 0,
        "votes_deleted": 0,
    }
    # with no voting window, searches still go at the records' maximum age
    long_ago = records.record(np.ones((1, 4), np.float32), 0.4, [[]])
    with db.session() as session:
        session.get(Search, long_ago).created_at = utcnow() - timedelta(days=40)
    no_window = Settings(verification_embedding_hours=None, verification_max_days=30)
    assert purge(db, no_window).searches_deleted == 1
    entries = AuditLog(db).entries()
    assert len(entries) == 2 and {e["action"] for e in entries} == {"retention.purge"}
    keep_all = Settings(
        verification_embedding_hours=None, verification_max_days=None, feedback_crops_max_days=None
    )
    add_verification(db, "ancient", timedelta(days=400))
    assert not any(purge(db, keep_all).as_dict().values())
    db.dispose()


def test_purge_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    db = Database(url)
    db.migrate()
    add_verification(db, "unvoted", timedelta(hours=30))
    db.dispose()
    out = subprocess.run(
        [sys.executable, "-m", "likeness.cli", "purge", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert '"embeddings_cleared": 1' in out.stdout


def test_templates_of_people_not_seen_are_erased_everywhere(db_url, tmp_path):
    """Off by default; with gallery_max_age_days, a person neither enrolled nor
    recognised since is erased through the gallery: database, index and file."""
    import numpy as np
    from sqlalchemy import update

    from likeness.gallery import Gallery, GalleryStore, IndexConfig
    from likeness.gallery.retention import expire_persons
    from likeness.gallery.store import NewFace, NewImage
    from likeness.storage.models import GalleryPerson

    db = Database(db_url)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((2, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    data = tmp_path / "data"
    gallery = Gallery(GalleryStore(db), IndexConfig(), data / "gallery.faiss").open()
    ids = []
    for i, name in enumerate(("gone", "kept")):
        person = gallery.store.create_person(name)
        face = NewFace(vectors[i], [0, 0, 1, 1], 0.9, 20.0)
        gallery.add_images(
            [NewImage(f"h{i}", 10, 10, [face], image_id=f"i{i}", person_id=person.id)]
        )
        ids.append(person.id)
    with db.session() as session:  # "gone" was last seen 100 days ago
        session.execute(
            update(GalleryPerson)
            .where(GalleryPerson.id == ids[0])
            .values(last_seen_at=datetime.now(timezone.utc) - timedelta(days=100))
        )
    assert expire_persons(db, Settings(data_dir=data)) == []  # off by default
    erased = expire_persons(db, Settings(data_dir=data, gallery_max_age_days=30))
    assert erased == [ids[0]]
    assert [p.name for p in gallery.store.list_persons()[0]] == ["kept"]
    assert vectors[0].tobytes() not in (data / "gallery.faiss").read_bytes()
    hits = gallery.search(vectors[0], top_k=5)  # the other process catches up
    assert all(h.person_name != "gone" for h in hits)
    db.dispose()


def test_crops_go_with_the_voting_window_and_votes_at_their_age(db_url):
    """Crops kept with every verification (store_feedback_crops) last only as long
    as it can be voted on, whatever the crops' own age limit; a vote keeps its copy
    until feedback_max_days."""
    db = Database(db_url)
    add_verification(db, "young", timedelta(hours=2), crops=True)
    add_verification(db, "unvoted", timedelta(hours=30), crops=True)
    add_verification(db, "voted", timedelta(hours=30), crops=True)
    FeedbackStore(db).submit("voted", "up")
    report = purge(db, Settings(feedback_crops_max_days=None, verification_max_days=None))
    assert report.crops_deleted == 2 and report.votes_deleted == 0
    with db.session() as session:
        assert [c.verification_id for c in session.scalars(select(VerificationCrops))] == ["young"]
    assert FeedbackStore(db).get("voted").crop1 == b"j"  # the vote's own copy
    with db.session() as session:
        vote = session.scalars(select(Feedback)).one()
        vote.created_at = utcnow() - timedelta(days=400)
    assert purge(db, Settings(feedback_max_days=365)).votes_deleted == 1
    assert FeedbackStore(db).get("voted") is None
    db.dispose()


def test_old_search_votes_go_and_what_they_taught_stays(db_url):
    """feedback_max_days deletes search votes too (their query embedding may be a
    stranger's), except one that taught a person's template: it holds no more than
    the template, and links the taught face to the face shown (erasing that face
    must still take the taught face along)."""
    from likeness.storage.models import GalleryPerson, PersonExemplar, SearchFeedback

    db = Database(db_url)
    old = utcnow() - timedelta(days=400)
    with db.session() as session:
        person = GalleryPerson(name="Ada", name_key="ada")
        session.add(person)
        session.flush()
        votes = [
            SearchFeedback(
                face_index=0,
                target=f"person:{person.id}:{n}",
                person_id=person.id,
                created_at=when,
                updated_at=when,
                model_pack="buffalo_s",
                model_version="v",
                score=0.6,
                threshold=0.36,
                vote="up",
                query_embedding=b"q",
                result_embedding=b"r",
            )  # fmt: skip
            for n, when in enumerate((old, old, utcnow()))
        ]
        session.add_all(votes)
        session.flush()
        session.add(PersonExemplar(person_id=person.id, vote_id=votes[0].id, embedding=b"e"))
    report = purge(db, Settings(feedback_max_days=365))
    assert report.votes_deleted == 1  # the old vote that taught nothing
    with db.session() as session:
        kept = sorted(v.id for v in session.scalars(select(SearchFeedback)))
        assert kept == sorted([votes[0].id, votes[2].id])
        (exemplar,) = session.scalars(select(PersonExemplar)).all()
        assert exemplar.vote_id == votes[0].id and exemplar.embedding == b"e"
    db.dispose()
