"""The gallery in the database: persons, images, faces (embeddings), the
generation counter bumped in the same transaction as every change of faces, and
the change log (``gallery_changes``) that records, in that same transaction, which
face ids the change added and removed. The database is the source of truth; the
vector index is derived from it by replaying the log. Ids are never reused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from likeness.errors import (
    CropNotStoredError,
    DuplicateImageError,
    EmbeddingModelMismatchError,
    FaceNotFoundError,
    ImageNotFoundError,
    PersonExistsError,
    PersonNotFoundError,
)
from likeness.gallery.codec import from_bytes, ids_from_bytes, ids_to_bytes, to_bytes
from likeness.gallery.person_stats import refresh_person
from likeness.gallery.validation import name_key
from likeness.storage import Database
from likeness.storage.models import (
    GalleryChange,
    GalleryFace,
    GalleryFaceCrop,
    GalleryImage,
    GalleryPerson,
    GalleryState,
    ModelVersionRow,
    utcnow,
)

STATE_ID = 1
#: Ids are 32-bit database integers; a larger number is no one's id (and must not
#: reach the database, which would fail on it).
MAX_ID = 2_147_483_647


def check_name_free(session: Session, name: str, person_id: int | None = None) -> None:
    """Names are unique in a gallery (enrolled persons and named clusters alike;
    ``name_key``: case, width and invisible characters aside): ``PersonExistsError``
    if another person than ``person_id`` has ``name``. The unique index on the key
    catches a race between two writers (``name_taken``)."""
    other = session.scalar(
        select(GalleryPerson.id)
        .where(GalleryPerson.name_key == name_key(name), GalleryPerson.id != (person_id or 0))
        .limit(1)
    )
    if other is not None:
        raise name_taken(name, int(other))


def name_taken(name: str, person_id: int | None = None) -> PersonExistsError:
    who = f"Person {person_id} is" if person_id else "Another person is"
    return PersonExistsError(
        f"{who} already named {name!r}: add photos to them, merge into them, "
        "or choose another name.",
        person_id=person_id,
    )


def flush_name(session: Session, name: str) -> None:
    """Flush a person's new name: the unique key's violation (a writer that took
    the name meanwhile) is ``PersonExistsError``, not a database error."""
    try:
        session.flush()
    except IntegrityError:
        raise name_taken(name) from None


def person_pk(person_id) -> int:
    """``person_id`` as a key, or PersonNotFoundError for a number no row can have."""
    try:
        value = int(person_id)
    except (TypeError, ValueError):
        raise PersonNotFoundError(f"No person with id {person_id!r}.") from None
    if not 1 <= value <= MAX_ID:
        raise PersonNotFoundError(f"No person with id {person_id}.")
    return value


#: Change-log rows kept; a process further behind than this rebuilds its index from
#: the database instead of replaying.
LOG_KEEP = 100_000
_PRUNE_EVERY = 1_000


@dataclass
class NewFace:
    embedding: np.ndarray
    box: list[float]
    det_score: float
    norm: float
    usable: bool = True  # False: stored with its checks, never searched
    checks: dict | None = None
    crop: bytes | None = None  # the aligned crop as JPEG, kept when given


@dataclass
class NewImage:
    content_hash: str
    width: int
    height: int
    faces: list[NewFace]
    image_id: str | None = None
    source: str | None = None
    person_id: int | None = None
    metadata: dict | None = None
    #: the recogniser version that made the faces' embeddings (None: the store's)
    model_version: str | None = None


@dataclass
class Change:
    """What one committed transaction did to the faces, and the generation after it."""

    generation: int
    added_ids: list[int] = field(default_factory=list)
    added_vectors: list[np.ndarray] = field(default_factory=list)
    removed_ids: list[int] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    person_ids: list[int] = field(default_factory=list)
    tag: str | None = None  # a random token of this change (and of the state after it)
    previous_tag: str | None = None  # the token of the state it followed

    @classmethod
    def at(cls, position: Position, **fields) -> Change:
        return cls(position.generation, tag=position.tag, previous_tag=position.previous, **fields)


@dataclass(frozen=True)
class Position:
    """Where the gallery stands: its generation and the random token of the change
    that made it. A token that differs at the same generation means the database
    is not the one the index followed (restored from a backup, say)."""

    generation: int
    tag: str | None
    previous: str | None = None
    model_version: str | None = None  # the recogniser the gallery's embeddings are of


@dataclass
class LogEntry:
    """One replayable row of the change log."""

    seq: int
    added: np.ndarray
    removed: np.ndarray
    cleared: bool
    tag: str | None = None
    model_version: str | None = None  # the gallery switched to this version here


@dataclass
class PersonInfo:
    id: int
    name: str | None  # None: a cluster nobody has named yet
    metadata: dict | None
    face_count: int
    created_at: object
    image_ids: list[str] = field(default_factory=list)
    consent_basis: str | None = None
    enrolled_by: str | None = None
    origin: str = "enrolled"  # or "auto": found by clustering
    representative_face_id: int | None = None  # the face nearest its template
    faces: list[dict] | None = None  # {face_id, image_id}: filled by get_person only

    @classmethod
    def of(cls, row: GalleryPerson, image_ids: list[str] | None = None) -> PersonInfo:
        return cls(
            row.id,
            row.name or None,
            row.meta,
            row.face_count or 0,
            row.created_at,
            list(image_ids or []),
            row.consent_basis,
            row.enrolled_by,
            row.origin or "enrolled",
            row.representative_face_id,
        )

    def as_dict(self) -> dict:
        created = self.created_at.isoformat() if self.created_at else None
        out = {
            "id": self.id,
            "name": self.name,
            "origin": self.origin,
            "representative_face_id": self.representative_face_id,
            "metadata": self.metadata or {},
            "face_count": self.face_count,
            "created_at": created,
            "image_ids": list(self.image_ids),
            "consent": {
                "basis": self.consent_basis,
                "enrolled_by": self.enrolled_by,
                "recorded_at": created,
            },
        }
        if self.faces is not None:
            out["faces"] = list(self.faces)
        return out


@dataclass
class FaceInfo:
    face_id: int
    image_id: str
    source: str | None
    person_id: int | None
    person_name: str | None
    box: list[float]
    image_metadata: dict | None


class GalleryStore:
    def __init__(
        self, db: Database, model_pack: str | None = None, model_version: str | None = None
    ):
        self.db = db
        self.model_pack = model_pack
        self.model_version = model_version

    # -- state -----------------------------------------------------------------
    def _state(self, session: Session, lock: bool = False) -> GalleryState:
        query = select(GalleryState).where(GalleryState.id == STATE_ID)
        if lock:
            query = query.with_for_update()
        state = session.scalars(query).first()
        if state is None:
            state = GalleryState(id=STATE_ID, generation=0, instance=uuid.uuid4().hex)
            session.add(state)
            session.flush()
        elif state.instance is None:
            state.instance = uuid.uuid4().hex
        return state

    def ensure_state(self) -> int:
        """Create the state row if needed; check the model; return the generation."""
        for attempt in range(3):
            try:
                with self.db.session() as session:
                    state = self._state(session)
                    self._check_model(state)
                    return int(state.generation)
            except IntegrityError:  # another process created the row at the same time
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _check_model(self, state: GalleryState) -> None:
        self.check_version(state.model_version, state.model_pack)

    def check_version(self, version: str | None, pack: str | None = None) -> None:
        """Refuse to mix embeddings: the gallery's version must be this store's (the
        engine's). After a switch of model the caller loads the new version and
        tries again (``FaceRecognitionLibrary``)."""
        if self.model_version and version and version != self.model_version:
            raise EmbeddingModelMismatchError(
                f"The gallery holds embeddings of model pack {pack or self.model_pack!r} "
                f"(recogniser {version[:12]}); this engine runs "
                f"{self.model_pack!r} ({self.model_version[:12]}). Activate that version "
                "(`likeness models list`), clear the gallery, or re-index with this model.",
                gallery_version=version,
            )

    def _check_active(self, session: Session, version: str) -> None:
        """An empty gallery takes the registry's active version only: a process
        still running the previous version must not claim it (the caller follows
        the registry and tries again)."""
        rows = session.execute(
            select(ModelVersionRow.origin, ModelVersionRow.sha256, ModelVersionRow.status).where(
                ModelVersionRow.model_pack == self.model_pack
            )
        ).all()
        active = next((r for r in rows if r.status == "active"), None)
        if active is None:
            return  # no registry in use
        tuned = {r.sha256 for r in rows if r.origin != "base"}
        ok = version == active.sha256 if active.origin != "base" else version not in tuned
        if not ok:
            raise EmbeddingModelMismatchError(
                f"Model version {active.sha256[:12]} is the active one now.",
                gallery_version=active.sha256,
            )

    def _bump(
        self, session: Session, stamp_model: bool = False, version: str | None = None
    ) -> Position:
        """Increment the generation inside the caller's transaction. It is the
        transaction's FIRST statement, so it takes the write lock (row lock on
        PostgreSQL, the database lock on SQLite) before anything is read."""
        result = session.execute(
            update(GalleryState)
            .where(GalleryState.id == STATE_ID)
            .values(generation=GalleryState.generation + 1)
        )
        if result.rowcount == 0:
            session.add(GalleryState(id=STATE_ID, generation=1, instance=uuid.uuid4().hex))
            session.flush()
        state = self._state(session)
        session.refresh(state)
        version = version or self.model_version
        if stamp_model and version:
            # embeddings of another version than the gallery's never go in (a switch
            # of model committed while they were computed: the caller tries again)
            if state.model_version is not None and state.model_version != version:
                self.check_version(state.model_version, state.model_pack)
                raise EmbeddingModelMismatchError(
                    f"The gallery switched to model version {state.model_version[:12]}.",
                    gallery_version=state.model_version,
                )
            if state.model_version is None:  # a new or cleared gallery
                self._check_active(session, version)
                state.model_pack, state.model_version = self.model_pack, version
        previous, state.tag = state.tag, uuid.uuid4().hex[:16]
        return Position(int(state.generation), state.tag, previous)

    def generation(self) -> int:
        return self.position().generation

    def position(self) -> Position:
        """The current generation and its token (one small query)."""
        with self.db.session() as session:
            row = session.execute(
                select(GalleryState.generation, GalleryState.tag, GalleryState.model_version).where(
                    GalleryState.id == STATE_ID
                )
            ).first()
        if row is None:
            return Position(0, None)
        return Position(int(row[0] or 0), row[1], model_version=row[2])

    def instance(self) -> str | None:
        """The gallery's random id (an index file of another gallery is not trusted)."""
        with self.db.session() as session:
            return session.scalar(select(GalleryState.instance).where(GalleryState.id == STATE_ID))

    # -- change log ------------------------------------------------------------------
    def _log(
        self,
        session: Session,
        change: Change,
        cleared: bool = False,
        model_version: str | None = None,
    ) -> None:
        """Append ``change`` to the log inside its own transaction."""
        session.add(
            GalleryChange(
                seq=change.generation,
                added=ids_to_bytes(change.added_ids),
                removed=ids_to_bytes(change.removed_ids),
                cleared=cleared,
                tag=change.tag,
                model_version=model_version,
            )
        )
        if change.generation % _PRUNE_EVERY == 0:
            session.execute(
                delete(GalleryChange).where(GalleryChange.seq <= change.generation - LOG_KEEP)
            )

    def changes_since(self, generation: int, limit: int = 10_000) -> list[LogEntry]:
        """Log rows after ``generation``, oldest first (at most ``limit``)."""
        with self.db.session() as session:
            rows = session.execute(
                select(
                    GalleryChange.seq,
                    GalleryChange.added,
                    GalleryChange.removed,
                    GalleryChange.cleared,
                    GalleryChange.tag,
                    GalleryChange.model_version,
                )
                .where(GalleryChange.seq > int(generation))
                .order_by(GalleryChange.seq)
                .limit(limit)
            ).all()
        return [
            LogEntry(int(seq), ids_from_bytes(a), ids_from_bytes(r), bool(c), tag, version)
            for seq, a, r, c, tag, version in rows
        ]

    # -- persons ---------------------------------------------------------------
    def create_person(
        self,
        name: str,
        metadata: dict | None = None,
        consent_basis: str | None = None,
        enrolled_by: str | None = None,
    ) -> PersonInfo:
        with self.db.session() as session:
            return PersonInfo.of(
                self._add_person(session, name, metadata, consent_basis, enrolled_by)
            )

    @staticmethod
    def _add_person(
        session: Session,
        name: str,
        metadata: dict | None = None,
        consent_basis: str | None = None,
        enrolled_by: str | None = None,
    ) -> GalleryPerson:
        """A new person row in the caller's transaction (flushed: it has its id)."""
        check_name_free(session, name)
        person = GalleryPerson(
            name=name,
            name_key=name_key(name),
            meta=metadata or None,
            face_count=0,
            consent_basis=consent_basis,
            enrolled_by=enrolled_by,
        )
        session.add(person)
        flush_name(session, name)
        return person

    def _person_info(self, session: Session, person: GalleryPerson) -> PersonInfo:
        image_ids = session.scalars(
            select(GalleryImage.image_id)
            .where(GalleryImage.person_id == person.id)
            .order_by(GalleryImage.id)
        ).all()
        return PersonInfo.of(person, image_ids)

    def get_person(self, person_id: int) -> PersonInfo:
        with self.db.session() as session:
            person = session.get(GalleryPerson, person_pk(person_id))
            if person is None:
                raise PersonNotFoundError(f"No person with id {person_id}.")
            info = self._person_info(session, person)
            info.faces = [
                {"face_id": face_id, "image_id": image_id}
                for face_id, image_id in session.execute(
                    select(GalleryFace.id, GalleryImage.image_id)
                    .join(GalleryImage, GalleryImage.id == GalleryFace.image_pk)
                    .where(GalleryFace.person_id == person.id)
                    .order_by(GalleryFace.id)
                )
            ]
            return info

    def find_persons(self, name: str) -> list[PersonInfo]:
        """Persons of that name, case aside (names are unique, so one, but an older
        gallery may hold duplicates), oldest first."""
        with self.db.session() as session:
            key = name_key(name)
            if key is None:
                return []
            rows = session.scalars(
                select(GalleryPerson)
                .where(or_(GalleryPerson.name_key == key, GalleryPerson.name == name))
                .order_by(GalleryPerson.id)
            ).all()
            return [self._person_info(session, p) for p in rows]

    def list_persons(
        self, offset: int = 0, limit: int = 100, origin: str | None = None
    ) -> tuple[list[PersonInfo], int]:
        offset, limit = min(max(int(offset), 0), MAX_ID), min(max(int(limit), 0), MAX_ID)
        where = [] if origin is None else [GalleryPerson.origin == origin]
        with self.db.session() as session:
            total = session.scalar(select(func.count(GalleryPerson.id)).where(*where)) or 0
            rows = session.scalars(
                select(GalleryPerson)
                .where(*where)
                .order_by(GalleryPerson.id)
                .offset(offset)
                .limit(limit)
            ).all()
            images: dict[int, list[str]] = {p.id: [] for p in rows}
            if rows:
                for person_id, image_id in session.execute(
                    select(GalleryImage.person_id, GalleryImage.image_id)
                    .where(GalleryImage.person_id.in_(list(images)))
                    .order_by(GalleryImage.id)
                ):
                    images[person_id].append(image_id)
            return [PersonInfo.of(p, images[p.id]) for p in rows], int(total)

    def touch_persons(self, person_ids: list[int]) -> None:
        """They were seen now (enrolled or recognised): retention counts from here."""
        if not person_ids:
            return
        with self.db.session() as session:
            session.execute(
                update(GalleryPerson)
                .where(GalleryPerson.id.in_([int(p) for p in person_ids]))
                .values(last_seen_at=utcnow())
            )

    def unseen_since(self, cutoff) -> list[int]:
        """Persons neither enrolled nor recognised since ``cutoff``."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(GalleryPerson.id)
                    .where(
                        func.coalesce(GalleryPerson.last_seen_at, GalleryPerson.created_at)
                        < cutoff,
                        GalleryPerson.origin == "enrolled",  # clusters are not enrolments
                    )
                    .order_by(GalleryPerson.id)
                )
            )

    def dimension(self) -> int | None:
        """The size of the stored embeddings (None: no face yet)."""
        with self.db.session() as session:
            blob = session.scalar(select(GalleryFace.embedding).limit(1))
        return None if blob is None else len(blob) // 4

    def centroid(self, person_id: int, usable_only: bool = True) -> np.ndarray | None:
        """The person's template (mean of its usable faces, kept up to date); with
        ``usable_only=False``, the mean of every face it has (computed now)."""
        if not usable_only:
            with self.db.session() as session:
                blobs = session.scalars(
                    select(GalleryFace.embedding).where(
                        GalleryFace.person_id == person_pk(person_id)
                    )
                ).all()
            if not blobs:
                return None
            mean = np.mean([from_bytes(b) for b in blobs], axis=0)
            return mean / max(float(np.linalg.norm(mean)), 1e-12)
        with self.db.session() as session:
            data = session.scalar(
                select(GalleryPerson.centroid).where(GalleryPerson.id == person_pk(person_id))
            )
            return None if data is None else from_bytes(data)

    def centroids(self, person_ids: list[int]) -> dict[int, np.ndarray]:
        if not person_ids:
            return {}
        with self.db.session() as session:
            rows = session.execute(
                select(GalleryPerson.id, GalleryPerson.centroid).where(
                    GalleryPerson.id.in_(list(set(person_ids)))
                )
            ).all()
            return {pid: from_bytes(c) for pid, c in rows if c is not None}

    def _refresh_person(self, session: Session, person_id: int) -> None:
        refresh_person(session, person_id)

    # -- images and faces -----------------------------------------------------
    def known_hashes(self, hashes: list[str]) -> set[str]:
        if not hashes:
            return set()
        found: set[str] = set()
        with self.db.session() as session:
            for start in range(0, len(hashes), 500):
                chunk = hashes[start : start + 500]
                found.update(
                    session.scalars(
                        select(GalleryImage.content_hash).where(
                            GalleryImage.content_hash.in_(chunk)
                        )
                    ).all()
                )
        return found

    def face_ids_of_hash(self, content_hash: str, person_id: int | None = None) -> list[int] | None:
        """Face ids of an already indexed image with this content (None: not indexed)."""
        with self.db.session() as session:
            query = select(GalleryImage.id).where(GalleryImage.content_hash == content_hash)
            if person_id is not None:
                query = query.where(GalleryImage.person_id == person_id)
            image_pk = session.scalars(query.order_by(GalleryImage.id)).first()
            if image_pk is None:
                return None
            return list(
                session.scalars(
                    select(GalleryFace.id)
                    .where(GalleryFace.image_pk == image_pk)
                    .order_by(GalleryFace.id)
                ).all()
            )

    def add_images(
        self, images: list[NewImage], new_person: tuple | None = None
    ) -> tuple[Change, list[list[int]]]:
        """Insert images and their faces in ONE transaction; returns the change and
        the face ids per image. With ``new_person`` (name, metadata), that person is
        created in the same transaction and owns every image (``person_id`` is set
        on them): a failed write leaves no empty person behind."""
        versions = {new.model_version for new in images if new.model_version}
        if len(versions) > 1:
            raise EmbeddingModelMismatchError("The images' faces come from two model versions.")
        with self.db.session() as session:
            change = Change.at(self._bump(session, True, next(iter(versions), None)))
            per_image: list[list[int]] = []
            persons: set[int] = set()
            if new_person is not None:
                # (name, metadata[, consent basis, enrolled by])
                person = self._add_person(session, *new_person)
                for new in images:
                    new.person_id = person.id
                    new.image_id = new.image_id or f"p{person.id}-{new.content_hash[:40]}"
            for new in images:
                image_id = new.image_id or new.content_hash
                if (
                    new.person_id is not None
                    and session.get(GalleryPerson, person_pk(new.person_id)) is None
                ):
                    raise PersonNotFoundError(f"No person with id {new.person_id}.")
                exists = session.scalar(
                    select(GalleryImage.id).where(GalleryImage.image_id == image_id)
                )
                if exists is not None:
                    raise DuplicateImageError(f"Image id {image_id!r} is already in the gallery.")
                image = GalleryImage(
                    image_id=image_id,
                    content_hash=new.content_hash,
                    source=new.source,
                    person_id=new.person_id,
                    meta=new.metadata or None,
                    width=new.width,
                    height=new.height,
                )
                session.add(image)
                session.flush()
                rows = [
                    GalleryFace(
                        image_pk=image.id,
                        person_id=new.person_id,
                        box=[round(float(v), 2) for v in face.box],
                        det_score=float(face.det_score),
                        norm=float(face.norm),
                        embedding=to_bytes(face.embedding),
                        usable=bool(face.usable),
                        checks=face.checks,
                        assigned_by="enrolled" if new.person_id is not None else None,
                    )
                    for face in new.faces
                ]
                session.add_all(rows)
                session.flush()
                session.add_all(
                    GalleryFaceCrop(face_id=row.id, jpeg=face.crop)
                    for row, face in zip(rows, new.faces, strict=True)
                    if face.crop is not None
                )
                per_image.append([row.id for row in rows])
                for row, face in zip(rows, new.faces, strict=True):
                    if face.usable:  # the index holds usable faces only
                        change.added_ids.append(row.id)
                        change.added_vectors.append(np.asarray(face.embedding, np.float32))
                change.image_ids.append(image_id)
                if new.person_id is not None:
                    persons.add(new.person_id)
            for person_id in persons:
                self._refresh_person(session, person_id)
            if persons:
                session.execute(
                    update(GalleryPerson)
                    .where(GalleryPerson.id.in_(sorted(persons)))
                    .values(last_seen_at=utcnow())
                )
            change.person_ids = sorted(persons)
            self._log(session, change)
        return change, per_image

    def _delete_images(self, session: Session, image_pks: list[int], change: Change) -> set[int]:
        """Delete images and their faces; returns the persons those faces were in
        (enrolled or clustered), whose templates need refreshing."""
        if not image_pks:
            return set()
        rows = session.execute(
            select(GalleryFace.id, GalleryFace.person_id).where(GalleryFace.image_pk.in_(image_pks))
        ).all()
        change.removed_ids.extend(face_id for face_id, _ in rows)
        session.execute(delete(GalleryFace).where(GalleryFace.image_pk.in_(image_pks)))
        session.execute(delete(GalleryImage).where(GalleryImage.id.in_(image_pks)))
        return {person_id for _, person_id in rows if person_id is not None}

    def remove_image(self, image_id: str) -> Change:
        with self.db.session() as session:
            position = self._bump(session)
            image = session.scalars(
                select(GalleryImage).where(GalleryImage.image_id == str(image_id))
            ).first()
            if image is None:
                raise ImageNotFoundError(f"No image with id {image_id!r}.")
            change = Change.at(position, image_ids=[image.image_id])
            persons = self._delete_images(session, [image.id], change)
            if image.person_id is not None:
                persons.add(image.person_id)
            for person_id in sorted(persons):  # enrolled, or clusters its faces were in
                self._refresh_person(session, person_id)
            change.person_ids = sorted(persons)
            self._log(session, change)
        return change

    def remove_person(self, person_id: int) -> Change:
        """The person, every image and face enrolled for it: one transaction."""
        with self.db.session() as session:
            pk = person_pk(person_id)
            position = self._bump(session)
            person = session.get(GalleryPerson, pk)
            if person is None:
                raise PersonNotFoundError(f"No person with id {person_id}.")
            change = Change.at(position, person_ids=[person.id])
            images = session.execute(
                select(GalleryImage.id, GalleryImage.image_id).where(
                    GalleryImage.person_id == person.id
                )
            ).all()
            change.image_ids = [image_id for _, image_id in images]
            touched = self._delete_images(session, [pk for pk, _ in images], change)
            # faces labelled with the person on images that are not its own
            stray = session.scalars(
                select(GalleryFace.id).where(GalleryFace.person_id == person.id)
            ).all()
            change.removed_ids.extend(stray)
            session.execute(delete(GalleryFace).where(GalleryFace.person_id == person.id))
            session.delete(person)
            session.flush()
            for other in sorted(touched - {person.id}):  # others on the erased photos
                self._refresh_person(session, other)
            self._log(session, change)
        return change

    def clear(self) -> Change:
        with self.db.session() as session:
            position = self._bump(session)
            change = Change.at(position)
            change.removed_ids = list(session.scalars(select(GalleryFace.id)).all())
            session.execute(delete(GalleryFace))
            session.execute(delete(GalleryImage))
            session.execute(delete(GalleryPerson))
            state = self._state(session)
            state.model_pack = state.model_version = None
            self._log(session, Change.at(position), cleared=True)
        return change

    # -- reading for the index and for answers ----------------------------------
    def face_ids(self) -> np.ndarray:
        with self.db.session() as session:
            ids = session.scalars(select(GalleryFace.id).where(GalleryFace.usable.is_(True))).all()
        return np.sort(np.fromiter(ids, np.int64, len(ids)))

    def embeddings(self, ids: np.ndarray | list[int] | None = None, chunk: int = 20_000):
        """(ids, vectors) of the given faces (all when ``ids`` is None)."""
        out_ids: list[int] = []
        out_vecs: list[np.ndarray] = []
        with self.db.session() as session:
            if ids is None:
                last = 0
                while True:
                    rows = session.execute(
                        select(GalleryFace.id, GalleryFace.embedding)
                        .where(GalleryFace.id > last, GalleryFace.usable.is_(True))
                        .order_by(GalleryFace.id)
                        .limit(chunk)
                    ).all()
                    if not rows:
                        break
                    out_ids.extend(r[0] for r in rows)
                    out_vecs.extend(from_bytes(r[1]) for r in rows)
                    last = rows[-1][0]
            else:
                wanted = [int(i) for i in ids]
                for start in range(0, len(wanted), 1000):
                    rows = session.execute(
                        select(GalleryFace.id, GalleryFace.embedding).where(
                            GalleryFace.id.in_(wanted[start : start + 1000])
                        )
                    ).all()
                    out_ids.extend(r[0] for r in rows)
                    out_vecs.extend(from_bytes(r[1]) for r in rows)
        if not out_ids:
            return np.zeros(0, np.int64), None
        return np.asarray(out_ids, np.int64), np.vstack(out_vecs).astype(np.float32)

    def face_crop(self, face_id: int) -> bytes:
        """The stored aligned crop (JPEG) of a face."""
        if not 1 <= int(face_id) <= MAX_ID:
            raise FaceNotFoundError(f"No face {face_id}.")
        with self.db.session() as session:
            row = session.execute(
                select(GalleryFace.id, GalleryFaceCrop.jpeg)
                .outerjoin(GalleryFaceCrop, GalleryFaceCrop.face_id == GalleryFace.id)
                .where(GalleryFace.id == int(face_id))
            ).first()
        if row is None:
            raise FaceNotFoundError(f"No face {face_id}.")
        if row[1] is None:
            raise CropNotStoredError(f"The gallery keeps no crop of face {face_id}.")
        return bytes(row[1])

    def describe_faces(self, ids: list[int]) -> dict[int, FaceInfo]:
        if not ids:
            return {}
        with self.db.session() as session:
            rows = session.execute(
                select(
                    GalleryFace.id,
                    GalleryImage.image_id,
                    GalleryImage.source,
                    GalleryFace.person_id,
                    GalleryPerson.name,
                    GalleryFace.box,
                    GalleryImage.meta,
                )
                .join(GalleryImage, GalleryImage.id == GalleryFace.image_pk)
                .outerjoin(GalleryPerson, GalleryPerson.id == GalleryFace.person_id)
                .where(GalleryFace.id.in_([int(i) for i in ids]))
            ).all()
        # an unnamed cluster has no name (None), as everywhere else
        return {r[0]: FaceInfo(*r[:4], r[4] or None, *r[5:]) for r in rows}

    def counts(self) -> dict[str, int]:
        with self.db.session() as session:
            return {
                "persons": int(session.scalar(select(func.count(GalleryPerson.id))) or 0),
                "images": int(session.scalar(select(func.count(GalleryImage.id))) or 0),
                "faces": int(session.scalar(select(func.count(GalleryFace.id))) or 0),
                "unusable_faces": int(
                    session.scalar(
                        select(func.count(GalleryFace.id)).where(GalleryFace.usable.is_(False))
                    )
                    or 0
                ),
            }

    def iter_image_ids(self) -> Iterator[str]:
        with self.db.session() as session:
            yield from session.scalars(select(GalleryImage.image_id).order_by(GalleryImage.id))
