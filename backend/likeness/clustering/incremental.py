"""New faces join clusters as they are indexed, so a client need not wait for the
next full run: a face joins the person of its most similar neighbour at or above
the threshold (never a person that already has a face in the same photo); failing
that, it starts a new cluster with enough unassigned neighbours above the threshold
(``min_size`` faces in all, each from another photo); failing that, it waits,
unassigned, for more evidence or the next full run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select, update

from likeness.clustering.store import ClusterStore, assign_faces, new_auto_persons
from likeness.gallery.person_stats import extend_persons, refresh_persons
from likeness.storage.models import GalleryFace, GalleryPerson


def _parts(values: list, size: int = 5000):
    """``values`` in slices small enough for one SQL ``IN`` list."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass
class Assignment:
    joined: int = 0  # faces that joined an existing person
    new_clusters: int = 0  # clusters started (each with min_size faces or more)
    waiting: int = 0  # faces left unassigned

    def as_dict(self) -> dict:
        return {"joined": self.joined, "new_clusters": self.new_clusters, "waiting": self.waiting}


def decide(
    new_ids: list[int],
    photo_of: Mapping[int, int],
    person_of: dict[int, int | None],
    photos_of: dict[int, set[int]],
    scores: np.ndarray,
    neighbours: np.ndarray,
    threshold: float,
    min_size: int,
    new_person: Callable[[], int],
) -> list[tuple[list[int], int]]:
    """Where each new face goes, in order: ``(faces, person)`` per decision (a face
    joining a person, or a new cluster's faces). ``neighbours[i]``/``scores[i]``: the
    kNN of ``new_ids[i]`` (face ids, -1 none); ``person_of`` maps the faces known to
    the caller to their person (None: unassigned) and ``photos_of`` each person to
    its photos; both are updated. ``new_person()`` makes a cluster's person id."""
    decisions: list[tuple[list[int], int]] = []
    for row, face_id in enumerate(new_ids):
        if person_of.get(face_id) is not None:  # pulled into a cluster just now
            continue
        photo = photo_of[face_id]
        near = [
            n
            for s, n in zip(scores[row].tolist(), neighbours[row].tolist(), strict=True)
            if n >= 0
            and n != face_id
            and s >= threshold
            and n in person_of
            and photo_of[n] != photo
        ]
        joined = next(
            (
                person_of[n]
                for n in near
                if person_of[n] is not None and photo not in photos_of.get(person_of[n], ())
            ),
            None,
        )
        members = [face_id]
        if joined is None:
            photos = {photo}
            for n in near:
                if person_of[n] is None and photo_of[n] not in photos:
                    members.append(n)
                    photos.add(photo_of[n])
            if len(members) < min_size:
                continue  # waits for more evidence
            joined = new_person()
        for member in members:
            person_of[member] = joined
            photos_of.setdefault(joined, set()).add(photo_of[member])
        decisions.append((members, joined))
    return decisions


def assign(
    clusters: ClusterStore,
    neighbours,
    face_ids: list[int],
    threshold: float,
    k: int = 10,
    min_size: int = 2,
) -> Assignment:
    """Assign the usable, unassigned faces among ``face_ids``; ``neighbours(vectors,
    k)`` is the gallery's batch kNN search (``Gallery.neighbours``)."""
    db = clusters.db
    rows = []
    with db.session() as session:
        for part in _parts(sorted({int(f) for f in face_ids})):
            rows += session.execute(
                select(GalleryFace.id, GalleryFace.image_pk, GalleryFace.embedding).where(
                    GalleryFace.id.in_(part),
                    GalleryFace.usable.is_(True),
                    GalleryFace.person_id.is_(None),
                )
            ).all()
    result = Assignment()
    if not rows:
        return result
    new_ids = [r[0] for r in rows]
    image_of = {r[0]: r[1] for r in rows}
    vectors = np.stack([np.frombuffer(r[2], np.float32) for r in rows])
    scores, ids = neighbours(vectors, k + 1)
    seen = {int(i) for i in ids.reshape(-1) if i >= 0}
    with db.session() as session:
        info = {}
        for part in _parts(sorted(seen)):
            for face_id, image_pk, person_id in session.execute(
                select(GalleryFace.id, GalleryFace.image_pk, GalleryFace.person_id).where(
                    GalleryFace.id.in_(part)
                )
            ):
                info[face_id] = (image_pk, person_id)
        person_of: dict[int, int | None] = {f: p for f, (_, p) in info.items()}
        photos_of: dict[int, set[int]] = {}  # person -> photos it holds (cannot-link)
        for part in _parts(sorted({p for p in person_of.values() if p is not None})):
            for person_id, image_pk in session.execute(
                select(GalleryFace.person_id, GalleryFace.image_pk).where(
                    GalleryFace.person_id.in_(part)
                )
            ):
                photos_of.setdefault(person_id, set()).add(image_pk)
        placeholders: list[int] = []  # clusters this batch starts, made after deciding

        def new_person() -> int:
            placeholders.append(-1 - len(placeholders))
            return placeholders[-1]

        decisions = decide(
            new_ids,
            photo_of={**{f: image for f, (image, _) in info.items()}, **image_of},
            person_of=person_of,
            photos_of=photos_of,
            scores=scores,
            neighbours=ids,
            threshold=threshold,
            min_size=min_size,
            new_person=new_person,
        )
        started = new_auto_persons(session, len(placeholders))
        real = dict(zip(placeholders, started, strict=True))
        decisions = [(members, real.get(p, p)) for members, p in decisions]
        # faces a concurrent run claimed meanwhile are left alone
        assign_faces(
            session,
            [(m, p) for members, p in decisions for m in members],
            lambda c: c.person_id.is_(None),
        )
        placed = {m: p for members, p in decisions for m in members if m in image_of}
        result.new_clusters = len(started)
        fresh = set(started)
        result.joined = sum(1 for p in placed.values() if p not in fresh)
        result.waiting = len(new_ids) - len(placed)
        # persons that gained faces are extended from their running sums (reading
        # all their faces took a minute for 10,000 new faces in 2M); the clusters
        # started here are small and computed from their faces
        extend_persons(
            session,
            {m: p for m, p in placed.items() if p not in fresh},
            {f: vectors[row] for row, f in enumerate(new_ids)},
        )
        refresh_persons(session, started)
        # a cluster started here that a concurrent change left short is not kept
        short = session.scalars(
            select(GalleryPerson.id).where(
                GalleryPerson.origin == "auto",
                GalleryPerson.name == "",
                GalleryPerson.face_count < min_size,
                GalleryPerson.id.in_(started),
            )
        ).all()
        if short:
            session.execute(
                update(GalleryFace)
                .where(GalleryFace.person_id.in_(short))
                .values(person_id=None, assigned_by=None)
            )
            session.execute(delete(GalleryPerson).where(GalleryPerson.id.in_(short)))
            result.new_clusters -= len(short)
            gone = set(short)
            result.waiting += sum(1 for p in placed.values() if p in gone)
    return result
