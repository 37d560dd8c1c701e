"""A person's statistics (count, template, representative, cohesion): extending
them from the running sum when faces join gives what recomputing them from every
face gives; what cannot be extended is recomputed. SQLite and PostgreSQL; fast
(synthetic vectors, no models)."""

from __future__ import annotations

import numpy as np
from gallery_worker import vector
from sqlalchemy import select, update

from likeness.gallery import GalleryStore, person_stats
from likeness.gallery.codec import from_bytes
from likeness.gallery.person_stats import extend_persons, refresh_persons
from likeness.gallery.store import NewFace, NewImage
from likeness.storage import Database
from likeness.storage.models import GalleryFace, GalleryPerson


def near(base: np.ndarray, seed: int, spread: float = 0.6) -> np.ndarray:
    v = base + spread * vector(seed)
    return (v / np.linalg.norm(v)).astype(np.float32)


def add(store: GalleryStore, seed: int, v: np.ndarray, person_id=None, usable=True) -> int:
    face = NewFace(v, [0, 0, 1, 1], 0.9, 20.0, usable=usable)
    image = NewImage(f"h{seed}", 10, 10, [face], image_id=f"i{seed}", person_id=person_id)
    return store.add_images([image])[1][0][0]


def stats(db: Database, person_id: int) -> tuple:
    with db.session() as session:
        p = session.get(GalleryPerson, person_id)
        return p.face_count, from_bytes(p.centroid).copy(), p.cohesion, p.representative_face_id


def test_extending_a_person_matches_recomputing_it(db_url, monkeypatch):
    db = Database(db_url)
    store = GalleryStore(db)
    base = vector(1000)
    person = store.create_person("A").id
    for seed in range(1, 7):
        add(store, seed, near(base, seed), person)
    add(store, 7, near(base, 7), person, usable=False)  # counted, not averaged
    new = {seed: near(base, seed, 0.3) for seed in (8, 9)}
    new_ids = {add(store, seed, v): v for seed, v in new.items()}
    moved = add(store, 10, near(base, 10))  # claimed elsewhere meanwhile
    _, _, _, old_rep = stats(db, person)

    def no_recompute(session, person_ids):  # the point: no person's faces are read
        assert not list(person_ids), "extend_persons fell back to reading every face"

    monkeypatch.setattr(person_stats, "refresh_persons", no_recompute)
    with db.session() as session:
        session.execute(
            update(GalleryFace).where(GalleryFace.id.in_(list(new_ids))).values(person_id=person)
        )
        extend_persons(session, {**{f: person for f in new_ids}, moved: person}, new_ids)
    monkeypatch.undo()
    count, centroid, cohesion, rep = stats(db, person)
    with db.session() as session:
        refresh_persons(session, [person])
    exact_count, exact_centroid, exact_cohesion, exact_rep = stats(db, person)
    assert count == exact_count == 9
    assert np.allclose(centroid, exact_centroid, atol=1e-5)
    assert abs(cohesion - exact_cohesion) < 1e-5
    assert rep in {old_rep, *new_ids}
    with db.session() as session:
        vectors = dict(
            session.execute(
                select(GalleryFace.id, GalleryFace.embedding).where(
                    GalleryFace.id.in_([old_rep, *new_ids])
                )
            ).all()
        )
    sims = {f: float(from_bytes(b) @ exact_centroid) for f, b in vectors.items()}
    assert sims[rep] == max(sims.values())  # the best of those it looked at
    if exact_rep in sims:
        assert rep == exact_rep
    db.dispose()


def test_what_cannot_be_extended_is_recomputed(db_url):
    db = Database(db_url)
    store = GalleryStore(db)
    base = vector(2000)
    empty = store.create_person("Empty").id  # no template yet
    gone = store.create_person("Gone").id  # its representative left
    for seed in range(20, 23):
        add(store, seed, near(base, seed), gone)
    _, _, _, rep = stats(db, gone)
    joining = {add(store, seed, near(base, seed)): seed for seed in (30, 31)}
    (to_empty, to_gone) = list(joining)
    vectors = {f: near(base, s) for f, s in joining.items()}
    with db.session() as session:
        session.execute(update(GalleryFace).where(GalleryFace.id == rep).values(person_id=None))
        session.execute(
            update(GalleryFace).where(GalleryFace.id == to_empty).values(person_id=empty)
        )
        session.execute(update(GalleryFace).where(GalleryFace.id == to_gone).values(person_id=gone))
        extend_persons(session, {to_empty: empty, to_gone: gone}, vectors)
    for person_id, size in ((empty, 1), (gone, 3)):
        count, centroid, cohesion, new_rep = stats(db, person_id)
        with db.session() as session:
            refresh_persons(session, [person_id])
        exact = stats(db, person_id)
        assert count == exact[0] == size and new_rep == exact[3] != rep
        assert np.allclose(centroid, exact[1]) and abs(cohesion - exact[2]) < 1e-6
    db.dispose()


def test_faces_another_writer_placed_are_not_counted_twice(db_url):
    """A full run (or a user) put the new face in the person, and refreshed it,
    between the decision and the write: the stored count gives it away, and the
    person is recomputed rather than extended with the face a second time."""
    db = Database(db_url)
    store = GalleryStore(db)
    base = vector(3000)
    person = store.create_person("A").id
    for seed in range(40, 43):
        add(store, seed, near(base, seed), person)
    v = near(base, 44, 0.3)
    face = add(store, 44, v)
    with db.session() as session:  # the other writer, with its refresh
        session.execute(update(GalleryFace).where(GalleryFace.id == face).values(person_id=person))
        refresh_persons(session, [person])
    exact = stats(db, person)
    with db.session() as session:
        extend_persons(session, {face: person}, {face: v})
    count, centroid, cohesion, rep = stats(db, person)
    assert count == exact[0] == 4 and rep == exact[3]
    assert np.allclose(centroid, exact[1], atol=1e-6) and abs(cohesion - exact[2]) < 1e-6
    db.dispose()


def test_a_merge_moves_the_votes_on_the_cluster(db_url):
    """A merge is no erasure: the votes on the cluster that goes follow its faces."""
    from likeness.clustering.store import ClusterStore
    from likeness.storage.models import SearchFeedback
    from likeness.storage.search_feedback import SearchRecords

    db = Database(db_url)
    store = GalleryStore(db)
    base = vector(4000)
    keep, other = (store.create_person(n).id for n in ("Kept", "Joins"))
    face = add(store, 50, near(base, 50))
    with db.session() as session:
        session.execute(update(GalleryFace).where(GalleryFace.id == face).values(person_id=other))
        session.execute(
            update(GalleryPerson).where(GalleryPerson.id.in_([keep, other])).values(origin="auto")
        )
    shown = [{"person_id": other, "face_id": face, "score": 0.9}]
    search = SearchRecords(db, "p", "v").record(np.ones((1, 64), np.float32), 0.36, [shown])
    SearchRecords(db).vote(search, "up", 0, person_id=other)
    ClusterStore(db).merge(keep, other)
    with db.session() as session:
        assert session.scalars(select(SearchFeedback.person_id)).all() == [keep]
    db.dispose()
