"""What clustering reads from and writes to the gallery's database: the usable faces
with their photo, person and who put them there; "not this person" exclusions; and,
after a run, each face's cluster (a person of origin "auto") and each cluster's
size, template, representative face and cohesion. One transaction per write."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, select, update

from likeness.errors import NotFoundError, PersonNotFoundError
from likeness.gallery.store import MAX_ID, person_pk
from likeness.storage import Database
from likeness.storage.models import FaceExclusion, GalleryFace, GalleryPerson

FIXED = ("enrolled", "user")  # who put a face in its person: clustering never moves it


@dataclass
class FaceTable:
    ids: np.ndarray  # (n,) face ids
    image: np.ndarray  # (n,) photo (cannot-link group)
    person: np.ndarray  # (n,) current person id, -1 none
    fixed: np.ndarray  # (n,) bool: enrolled or confirmed for that person
    vectors: np.ndarray  # (n, d) unit embeddings


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


class ClusterStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def faces(self, chunk: int = 50_000) -> FaceTable:
        """Every usable face, in id order."""
        ids, image, person, fixed, vectors = [], [], [], [], []
        last = 0
        with self.db.session() as session:
            while True:
                rows = session.execute(
                    select(
                        GalleryFace.id,
                        GalleryFace.image_pk,
                        GalleryFace.person_id,
                        GalleryFace.assigned_by,
                        GalleryFace.embedding,
                    )
                    .where(GalleryFace.usable.is_(True), GalleryFace.id > last)
                    .order_by(GalleryFace.id)
                    .limit(chunk)
                ).all()
                if not rows:
                    break
                for face_id, image_pk, person_id, by, blob in rows:
                    ids.append(face_id)
                    image.append(image_pk)
                    person.append(-1 if person_id is None else person_id)
                    fixed.append(person_id is not None and by in FIXED)
                    vectors.append(np.frombuffer(blob, np.float32))
                last = rows[-1][0]
        dim = len(vectors[0]) if vectors else 0
        return FaceTable(
            np.array(ids, np.int64),
            np.array(image, np.int64),
            np.array(person, np.int64),
            np.array(fixed, bool),
            np.vstack(vectors) if vectors else np.zeros((0, dim), np.float32),
        )

    def clusters(self, offset: int = 0, limit: int = 100) -> tuple[list[dict], int]:
        """Auto persons (clusters), largest first: id, name, size, representative
        face, cohesion."""
        with self.db.session() as session:
            query = select(GalleryPerson).where(GalleryPerson.origin == "auto")
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(GalleryPerson.face_count.desc(), GalleryPerson.id)
                .offset(offset)
                .limit(limit)
            ).all()
            return [_cluster_dict(row) for row in rows], int(total)

    def cluster(self, person_id: int) -> dict:
        """One person (auto or enrolled) as a cluster, with its face ids."""
        with self.db.session() as session:
            row = session.get(GalleryPerson, person_pk(person_id))
            if row is None:
                raise PersonNotFoundError(f"No cluster or person {person_id}.")
            out = _cluster_dict(row)
            out["face_ids"] = list(
                session.scalars(
                    select(GalleryFace.id)
                    .where(GalleryFace.person_id == row.id)
                    .order_by(GalleryFace.id)
                )
            )
            return out

    def cluster_of(self, face_id: int) -> int | None:
        with self.db.session() as session:
            if not 1 <= int(face_id) <= MAX_ID:
                raise NotFoundError(f"No face {face_id}.")
            face = session.get(GalleryFace, int(face_id))
            if face is None:
                raise NotFoundError(f"No face {face_id}.")
            return face.person_id

    def name(self, person_id: int, name: str) -> dict:
        """Name a cluster: it keeps its id, and from now on its name."""
        with self.db.session() as session:
            row = session.get(GalleryPerson, person_pk(person_id))
            if row is None:
                raise PersonNotFoundError(f"No cluster or person {person_id}.")
            row.name = name
            session.flush()
            return _cluster_dict(row)

    def exclusions(self) -> list[tuple[int, int]]:
        with self.db.session() as session:
            return [
                tuple(r)
                for r in session.execute(select(FaceExclusion.face_id, FaceExclusion.person_id))
            ]

    def persons(self) -> dict[int, tuple[str, str]]:
        """person id -> (origin, name)."""
        with self.db.session() as session:
            rows = session.execute(
                select(GalleryPerson.id, GalleryPerson.origin, GalleryPerson.name)
            ).all()
        return {pid: (origin, name) for pid, origin, name in rows}

    def write(
        self,
        moves: dict[int, int | None],
        new_clusters: list[list[int]],
        table: FaceTable,
    ) -> tuple[list[int], list[int]]:
        """Apply a run in one transaction: ``moves`` (face id -> person id or None,
        faces clustering may move), ``new_clusters`` (face ids of each new auto
        person). Unnamed auto persons left without faces are removed. Returns the
        new person ids and the removed ones; then refreshes every cluster's stats."""
        created: list[int] = []
        with self.db.session() as session:
            by_target: dict[int | None, list[int]] = {}
            for face_id, person_id in moves.items():
                by_target.setdefault(person_id, []).append(face_id)
            for faces in new_clusters:
                person = GalleryPerson(name="", origin="auto", face_count=0)
                session.add(person)
                session.flush()
                created.append(person.id)
                by_target.setdefault(person.id, []).extend(faces)
            for person_id, face_ids in by_target.items():
                for start in range(0, len(face_ids), 1000):
                    session.execute(
                        update(GalleryFace)
                        .where(GalleryFace.id.in_(face_ids[start : start + 1000]))
                        .values(
                            person_id=person_id,
                            assigned_by=None if person_id is None else "cluster",
                        )
                    )
            counts = dict(
                session.execute(
                    select(GalleryFace.person_id, func.count(GalleryFace.id))
                    .where(GalleryFace.person_id.is_not(None))
                    .group_by(GalleryFace.person_id)
                ).all()
            )
            empty = session.scalars(
                select(GalleryPerson.id).where(
                    GalleryPerson.origin == "auto", GalleryPerson.name == ""
                )
            ).all()
            removed = [pid for pid in empty if counts.get(pid, 0) == 0]
            if removed:
                session.execute(delete(GalleryPerson).where(GalleryPerson.id.in_(removed)))
        self.refresh(table)
        return created, removed

    def refresh(self, table: FaceTable) -> None:
        """Size, template (mean of usable faces), representative face (the usable face
        nearest the template) and cohesion (mean cosine to it) of every person."""
        fresh = self.faces()
        with self.db.session() as session:
            persons = session.scalars(select(GalleryPerson)).all()
            counts = dict(
                session.execute(
                    select(GalleryFace.person_id, func.count(GalleryFace.id))
                    .where(GalleryFace.person_id.is_not(None))
                    .group_by(GalleryFace.person_id)
                ).all()
            )
            order = np.argsort(fresh.person, kind="stable")
            sorted_person = fresh.person[order]
            for person in persons:
                lo, hi = np.searchsorted(sorted_person, [person.id, person.id + 1])
                members = order[lo:hi]
                person.face_count = int(counts.get(person.id, 0))
                if len(members) == 0:
                    person.centroid = None
                    person.representative_face_id = None
                    person.cohesion = None
                    continue
                centre = _unit(fresh.vectors[members].mean(axis=0))
                sims = fresh.vectors[members] @ centre
                person.centroid = centre.astype(np.float32).tobytes()
                person.representative_face_id = int(fresh.ids[members[int(np.argmax(sims))]])
                person.cohesion = float(sims.mean())


def _cluster_dict(row: GalleryPerson) -> dict:
    return {
        "id": row.id,
        "name": row.name or None,
        "origin": row.origin,
        "size": row.face_count,
        "representative_face_id": row.representative_face_id,
        "cohesion": None if row.cohesion is None else round(float(row.cohesion), 4),
    }
