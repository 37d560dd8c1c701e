"""New faces join clusters as they are indexed, so a client need not wait for the
next full run: a face joins the person of its most similar neighbour at or above
the threshold (never a person that already has a face in the same photo); failing
that, it starts a new cluster with enough unassigned neighbours above the threshold
(``min_size`` faces in all, each from another photo); failing that, it waits,
unassigned, for more evidence or the next full run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select, update

from likeness.clustering.store import ClusterStore
from likeness.gallery.store import refresh_person
from likeness.storage.models import GalleryFace, GalleryPerson


@dataclass
class Assignment:
    joined: int = 0  # faces that joined an existing person
    new_clusters: int = 0  # clusters started (each with min_size faces or more)
    waiting: int = 0  # faces left unassigned

    def as_dict(self) -> dict:
        return {"joined": self.joined, "new_clusters": self.new_clusters, "waiting": self.waiting}


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
    with db.session() as session:
        rows = session.execute(
            select(GalleryFace.id, GalleryFace.image_pk, GalleryFace.embedding).where(
                GalleryFace.id.in_([int(f) for f in face_ids]),
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
        info = {
            face_id: (image_pk, person_id)
            for face_id, image_pk, person_id in session.execute(
                select(GalleryFace.id, GalleryFace.image_pk, GalleryFace.person_id).where(
                    GalleryFace.id.in_(list(seen))
                )
            )
        }
        person_of: dict[int, int | None] = {f: p for f, (_, p) in info.items()}
        photos_of: dict[int, set[int]] = {}  # person -> photos it holds (cannot-link)
        persons = {p for p in person_of.values() if p is not None}
        for person_id, image_pk in session.execute(
            select(GalleryFace.person_id, GalleryFace.image_pk).where(
                GalleryFace.person_id.in_(list(persons))
            )
        ):
            photos_of.setdefault(person_id, set()).add(image_pk)
        touched: set[int] = set()
        started: list[int] = []  # clusters this batch starts
        for row, face_id in enumerate(new_ids):
            if person_of.get(face_id) is not None:  # pulled into a cluster just now
                continue
            photo = image_of[face_id]
            near = [
                (float(s), int(n))
                for s, n in zip(scores[row], ids[row], strict=True)
                if n >= 0 and n != face_id and s >= threshold and n in info and info[n][0] != photo
            ]
            joined = next(
                (
                    person_of[n]
                    for _, n in near
                    if person_of.get(n) is not None
                    and photo not in photos_of.get(person_of[n], set())
                ),
                None,
            )
            if joined is not None:
                members = [face_id]
                result.joined += 1
            else:
                members, photos = [face_id], {photo}
                for _, n in near:
                    if person_of.get(n) is None and info[n][0] not in photos:
                        members.append(n)
                        photos.add(info[n][0])
                if len(members) < min_size:
                    result.waiting += 1
                    continue
                person = GalleryPerson(name="", origin="auto", face_count=0)
                session.add(person)
                session.flush()
                joined = person.id
                started.append(joined)
                photos_of[joined] = set()
                result.new_clusters += 1
            session.execute(  # faces a concurrent run claimed meanwhile are left alone
                update(GalleryFace)
                .where(GalleryFace.id.in_(members), GalleryFace.person_id.is_(None))
                .values(person_id=joined, assigned_by="cluster")
            )
            for member in members:
                person_of[member] = joined
                photos_of.setdefault(joined, set()).add(
                    info[member][0] if member in info else photo
                )
            touched.add(joined)
        for person_id in sorted(touched):
            refresh_person(session, person_id)
        # a cluster started here that a concurrent change left short is not kept
        short = session.scalars(
            select(GalleryPerson.id).where(
                GalleryPerson.id.in_(sorted(touched)),
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
    return result
