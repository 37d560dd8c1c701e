"""What clustering reads from and writes to the gallery's database: the usable faces
with their photo, person and who put them there; "not this person" exclusions; and,
after a run, each face's cluster (a person of origin "auto") and each cluster's
size, template, representative face and cohesion. One transaction per write."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import bindparam, delete, exists, func, insert, or_, select, update

from likeness.errors import FaceNotFoundError, PersonNotFoundError, ValidationError
from likeness.gallery.person_stats import refresh_persons
from likeness.gallery.store import MAX_ID, check_name_free, flush_name, person_pk
from likeness.gallery.validation import name_key
from likeness.storage import Database
from likeness.storage.models import (
    FaceExclusion,
    GalleryFace,
    GalleryImage,
    GalleryPerson,
    PersonExemplar,
    SearchFeedback,
)

FIXED = ("enrolled", "user")  # who put a face in its person: clustering never moves it


@dataclass
class FaceTable:
    ids: np.ndarray  # (n,) face ids
    image: np.ndarray  # (n,) photo (cannot-link group)
    person: np.ndarray  # (n,) current person id, -1 none
    fixed: np.ndarray  # (n,) bool: enrolled or confirmed for that person
    vectors: np.ndarray  # (n, d) unit embeddings, float16


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def new_auto_persons(session, count: int) -> list[int]:
    """``count`` new unnamed persons of origin auto, their ids in order (one
    statement where the database returns ids from a batch insert)."""
    if count <= 0:
        return []
    if not session.get_bind().dialect.insert_executemany_returning_sort_by_parameter_order:
        made = [GalleryPerson(name="", origin="auto", face_count=0) for _ in range(count)]
        session.add_all(made)
        session.flush()
        return [person.id for person in made]
    rows = session.execute(
        insert(GalleryPerson).returning(GalleryPerson.id, sort_by_parameter_order=True),
        [{"name": "", "origin": "auto", "face_count": 0} for _ in range(count)],
    )
    return [int(row[0]) for row in rows]


def assign_faces(session, pairs: list[tuple[int, int | None]], guard) -> None:
    """Set each face's person (None: unassigned) by clustering, as one batch of one
    statement, only where ``guard`` (a condition on the face's row) still holds."""
    if not pairs:
        return
    faces, persons = GalleryFace.__table__, GalleryPerson.__table__
    person = bindparam("b_person")
    statement = (
        update(faces)
        .where(
            faces.c.id == bindparam("b_face"),
            guard(faces.c),
            # never into a person erased or merged away since it was read
            or_(person.is_(None), exists().where(persons.c.id == person)),
        )
        .values(person_id=person, assigned_by=bindparam("b_by"))
    )
    session.execute(
        statement,
        [
            {"b_face": face, "b_person": person, "b_by": None if person is None else "cluster"}
            for face, person in pairs
        ],
    )


class ClusterStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def faces(self, chunk: int = 50_000) -> FaceTable:
        """Every usable face, in id order; vectors as float16 (half the memory of
        float32; cosines change by about 1e-3, far below any threshold's margin)."""
        ids, image, person, fixed, parts = [], [], [], [], []
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
                for face_id, image_pk, person_id, by, _ in rows:
                    ids.append(face_id)
                    image.append(image_pk)
                    person.append(-1 if person_id is None else person_id)
                    fixed.append(person_id is not None and by in FIXED)
                blob = b"".join(row[4] for row in rows)
                parts.append(
                    np.frombuffer(blob, np.float32).reshape(len(rows), -1).astype(np.float16)
                )
                last = rows[-1][0]
        dim = parts[0].shape[1] if parts else 0
        return FaceTable(
            np.array(ids, np.int64),
            np.array(image, np.int64),
            np.array(person, np.int64),
            np.array(fixed, bool),
            np.concatenate(parts) if parts else np.zeros((0, dim), np.float16),
        )

    def members(self, person_id: int):
        """A person's usable faces: (ids, photo of each, enrolled or not, vectors)."""
        with self.db.session() as session:
            if session.get(GalleryPerson, person_pk(person_id)) is None:
                raise PersonNotFoundError(f"No cluster or person {person_id}.")
            rows = session.execute(
                select(
                    GalleryFace.id,
                    GalleryFace.image_pk,
                    GalleryFace.assigned_by,
                    GalleryFace.embedding,
                )
                .where(GalleryFace.person_id == int(person_id), GalleryFace.usable.is_(True))
                .order_by(GalleryFace.id)
            ).all()
        dim = len(rows[0][3]) // 4 if rows else 0
        return (
            np.array([r[0] for r in rows], np.int64),
            np.array([r[1] for r in rows], np.int64),
            np.array([r[2] == "enrolled" for r in rows], bool),
            np.frombuffer(b"".join(r[3] for r in rows), np.float32).reshape(len(rows), dim),
        )

    def has_clusters(self) -> bool:
        """Whether clustering has found anyone yet (then new faces are assigned as
        they are indexed)."""
        with self.db.session() as session:
            found = session.scalar(
                select(GalleryPerson.id).where(GalleryPerson.origin == "auto").limit(1)
            )
            return found is not None

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
                raise FaceNotFoundError(f"No face {face_id}.")
            face = session.get(GalleryFace, int(face_id))
            if face is None:
                raise FaceNotFoundError(f"No face {face_id}.")
            return face.person_id

    def name(self, person_id: int, name: str) -> dict:
        """Name a cluster: it keeps its id and its name, and naming it confirms its
        faces (runs no longer move them out; others may still join)."""
        with self.db.session() as session:
            row = session.get(GalleryPerson, person_pk(person_id))
            if row is None:
                raise PersonNotFoundError(f"No cluster or person {person_id}.")
            check_name_free(session, name, row.id)
            row.name, row.name_key = name, name_key(name)
            flush_name(session, name)
            session.execute(
                update(GalleryFace)
                .where(GalleryFace.person_id == row.id, GalleryFace.assigned_by == "cluster")
                .values(assigned_by="user")
            )
            session.flush()
            return _cluster_dict(row)

    # -- what users decide (never undone by a run) ---------------------------------
    def _face(self, session, face_id: int) -> GalleryFace:
        if (
            not 1 <= int(face_id) <= MAX_ID
            or (face := session.get(GalleryFace, int(face_id))) is None
        ):
            raise FaceNotFoundError(f"No face {face_id}.")
        return face

    def merge(self, keep: int, other: int) -> None:
        """Every face of ``other`` joins ``keep`` as the user's decision; ``other``
        goes (its name passes to ``keep`` if that has none)."""
        if person_pk(keep) == person_pk(other):
            raise ValidationError("A cluster cannot be merged with itself.", field="other")
        with self.db.session() as session:
            target = session.get(GalleryPerson, person_pk(keep))
            source = session.get(GalleryPerson, person_pk(other))
            if target is None or source is None:
                raise PersonNotFoundError(
                    f"No cluster or person {keep if target is None else other}."
                )
            if source.origin == "enrolled":  # its photos, consent and id would go
                raise ValidationError(
                    f"{source.name or other} is enrolled: merge the cluster into them "
                    "instead (an enrolled person keeps its id, photos and consent).",
                    field="other",
                )
            # votes on search results follow the faces (a merge is no erasure)
            session.execute(
                update(SearchFeedback)
                .where(SearchFeedback.person_id == source.id)
                .values(person_id=target.id)
            )
            session.execute(  # and so do the faces users confirmed
                update(PersonExemplar)
                .where(PersonExemplar.person_id == source.id)
                .values(person_id=target.id)
            )
            session.execute(
                update(GalleryFace)
                .where(GalleryFace.person_id == source.id, GalleryFace.assigned_by != "enrolled")
                .values(person_id=target.id, assigned_by="user")
            )
            session.execute(
                update(GalleryFace)
                .where(GalleryFace.person_id == source.id)
                .values(person_id=target.id)
            )
            name = None if target.name else source.name
            session.execute(delete(FaceExclusion).where(FaceExclusion.person_id == source.id))
            session.delete(source)
            if name:  # an unnamed cluster takes the other's name (freed first)
                session.flush()
                target.name, target.name_key = name, name_key(name)
                flush_name(session, name)

    def split(self, cluster: int, face_ids: list[int]) -> int:
        """The chosen faces of a cluster become a new auto person; the chosen and the
        remaining faces are both fixed as the user's decision. Returns the new id."""
        with self.db.session() as session:
            source = session.get(GalleryPerson, person_pk(cluster))
            if source is None:
                raise PersonNotFoundError(f"No cluster or person {cluster}.")
            faces = [self._face(session, f) for f in dict.fromkeys(face_ids)]
            if not faces or any(f.person_id != source.id for f in faces):
                raise ValidationError(
                    "Choose one or more faces of this cluster to split off.", field="face_ids"
                )
            if any(f.assigned_by == "enrolled" for f in faces):
                raise ValidationError(
                    "Enrolled faces are removed through their person, not split off.",
                    field="face_ids",
                )
            size = session.scalar(
                select(func.count(GalleryFace.id)).where(GalleryFace.person_id == source.id)
            )
            if len(faces) >= (size or 0):
                raise ValidationError(
                    "A split must leave at least one face behind; to rename the cluster, name it.",
                    field="face_ids",
                )
            person = GalleryPerson(name="", origin="auto", face_count=0)
            session.add(person)
            session.flush()
            for face in faces:
                face.person_id, face.assigned_by = person.id, "user"
            # both sides are the user's decision now: the faces left behind stay
            # with their person, so a run cannot fold the two back together
            session.execute(
                update(GalleryFace)
                .where(GalleryFace.person_id == source.id, GalleryFace.assigned_by == "cluster")
                .values(assigned_by="user")
            )
            return person.id

    def move(self, face_id: int, person_id: int) -> None:
        """Put a face in a person (or cluster) as the user's decision."""
        with self.db.session() as session:
            face = self._face(session, face_id)
            if session.get(GalleryPerson, person_pk(person_id)) is None:
                raise PersonNotFoundError(f"No cluster or person {person_id}.")
            if face.assigned_by == "enrolled":
                raise ValidationError("An enrolled face stays with its person.", field="face_id")
            face.person_id, face.assigned_by = person_pk(person_id), "user"
            session.execute(
                delete(FaceExclusion).where(
                    FaceExclusion.face_id == face.id, FaceExclusion.person_id == face.person_id
                )
            )

    def exclude(self, face_id: int) -> int | None:
        """ "Not this person": the face leaves its person and never joins it again;
        returns the person it left."""
        with self.db.session() as session:
            face = self._face(session, face_id)
            person_id = face.person_id
            if person_id is None:
                return None
            if face.assigned_by == "enrolled":
                raise ValidationError(
                    "An enrolled face is removed through its person (remove the photo).",
                    field="face_id",
                )
            if session.get(FaceExclusion, (face.id, person_id)) is None:
                session.add(FaceExclusion(face_id=face.id, person_id=person_id))
            face.person_id, face.assigned_by = None, None
            return person_id

    def export_rows(self, chunk: int = 10_000):
        """One row per face: face id, image id, image source, cluster (person) id and
        name, in face order."""
        last = 0
        with self.db.session() as session:
            while True:
                rows = session.execute(
                    select(
                        GalleryFace.id,
                        GalleryImage.image_id,
                        GalleryImage.source,
                        GalleryFace.person_id,
                        GalleryPerson.name,
                        GalleryFace.usable,
                    )
                    .join(GalleryImage, GalleryImage.id == GalleryFace.image_pk)
                    .outerjoin(GalleryPerson, GalleryPerson.id == GalleryFace.person_id)
                    .where(GalleryFace.id > last)
                    .order_by(GalleryFace.id)
                    .limit(chunk)
                ).all()
                if not rows:
                    return
                for face_id, image_id, source, person_id, name, usable in rows:
                    yield {
                        "face_id": face_id,
                        "image_id": image_id,
                        "source": source,
                        "cluster_id": person_id,
                        "cluster_name": name or None,
                        "usable": bool(usable),
                    }
                last = rows[-1][0]

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
        with self.db.session() as session:
            created = new_auto_persons(session, len(new_clusters))
            pairs = list(moves.items())
            for faces, person_id in zip(new_clusters, created, strict=True):
                pairs += [(face, person_id) for face in faces]
            targets = sorted({p for _, p in pairs if p is not None} - set(created))
            alive = set(created)
            for start in range(0, len(targets), 1000):
                alive.update(
                    session.scalars(
                        select(GalleryPerson.id).where(
                            GalleryPerson.id.in_(targets[start : start + 1000])
                        )
                    )
                )
            # a person erased or merged away during the run: the next run decides;
            # a user's decision made during the run is never undone
            assign_faces(
                session,
                [(f, p) for f, p in pairs if p is None or p in alive],
                lambda c: or_(c.assigned_by.is_(None), c.assigned_by == "cluster"),
            )
            # unnamed clusters left without faces go, in one guarded statement each
            # batch, so a face assigned meanwhile keeps its person
            faceless = ~exists().where(GalleryFace.person_id == GalleryPerson.id)
            unnamed = (GalleryPerson.origin == "auto", GalleryPerson.name == "")
            removed = list(session.scalars(select(GalleryPerson.id).where(*unnamed, faceless)))
            for start in range(0, len(removed), 1000):
                session.execute(
                    delete(GalleryPerson).where(
                        GalleryPerson.id.in_(removed[start : start + 1000]), *unnamed, faceless
                    )
                )
        touched = set(created) | {p for p in moves.values() if p is not None}
        touched |= {int(p) for p in table.person[np.isin(table.ids, list(moves))] if p >= 0}
        self.refresh(touched - set(removed))
        return created, removed

    def refresh(self, person_ids=None, batch: int = 500) -> None:
        """Size, template, representative face and cohesion of these persons (all
        when None), ``batch`` persons per short transaction (each read and written in
        it), so an erasure or enrolment committed meanwhile is never written over."""
        if person_ids is None:
            with self.db.session() as session:
                person_ids = session.scalars(select(GalleryPerson.id)).all()
        ordered = sorted({int(p) for p in person_ids})
        for start in range(0, len(ordered), batch):
            with self.db.session() as session:
                refresh_persons(session, ordered[start : start + batch])


def _cluster_dict(row: GalleryPerson) -> dict:
    return {
        "id": row.id,
        "name": row.name or None,
        "origin": row.origin,
        "size": row.face_count,
        "representative_face_id": row.representative_face_id,
        "cohesion": None if row.cohesion is None else round(float(row.cohesion), 4),
    }
