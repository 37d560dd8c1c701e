"""Tables. Each change of schema comes with a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from likeness.storage.db import Base

#: SQLite reuses the highest rowid after a delete unless a table says AUTOINCREMENT.
#: Ids of faces, images, persons and votes are never reused (an index or a client
#: that still holds an old id must never find someone else under it).
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """One rule on every database: stored as UTC, read back as an aware UTC datetime
    (SQLite returns naive values, PostgreSQL values in the session's time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Verification(Base):
    """One answered ``/api/verify`` call: score, decision and the two embeddings
    (float32 bytes). Images are not kept."""

    __tablename__ = "verifications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    model_pack: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))  # recogniser file SHA-256
    similarity: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    is_match: Mapped[bool] = mapped_column(Boolean)
    face_policy: Mapped[str] = mapped_column(String(16))
    embedding1: Mapped[bytes] = mapped_column(LargeBinary)
    embedding2: Mapped[bytes] = mapped_column(LargeBinary)
    #: the face checks' reasons per face, {"image1": [...], "image2": [...]} ([]:
    #: passed); None when the checks did not run. Training data drops refused faces.
    refusals: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class VerificationCrops(Base):
    """The two aligned 112x112 face crops (JPEG) of a verification; kept only when
    ``store_feedback_crops`` is on. Deleted with their verification."""

    __tablename__ = "verification_crops"

    verification_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("verifications.id", ondelete="CASCADE"), primary_key=True
    )
    crop1: Mapped[bytes] = mapped_column(LargeBinary)
    crop2: Mapped[bytes] = mapped_column(LargeBinary)


class Feedback(Base):
    """A user's vote (up/down) on one verification, at most one per verification.
    Score, decision, model and embeddings are copied from the verification so the
    record stands alone; the link is cleared if the verification is deleted."""

    __tablename__ = "feedback"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    verification_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("verifications.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    model_pack: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    similarity: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    is_match: Mapped[bool] = mapped_column(Boolean)
    face_policy: Mapped[str] = mapped_column(String(16))
    vote: Mapped[str] = mapped_column(String(8))  # "up" | "down"
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    embedding1: Mapped[bytes] = mapped_column(LargeBinary)
    embedding2: Mapped[bytes] = mapped_column(LargeBinary)
    crop1: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    crop2: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    refusals: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # as the verification's


# --- gallery (1:N search) -------------------------------------------------------


class GalleryPerson(Base):
    """An enrolled identity. ``centroid`` is the L2-normalised mean of its face
    embeddings (float32 bytes), kept up to date on enrolment and removal."""

    __tablename__ = "gallery_persons"
    __table_args__ = (
        # names are unique, case aside: the database holds the rule (no race)
        Index("ix_gallery_persons_name_key", "name_key", unique=True),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    #: ``validation.name_key(name)``; NULL for an unnamed cluster (and for the later
    #: duplicates a gallery made before names were unique may hold)
    name_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    meta: Mapped[dict | None] = mapped_column("metadata", JSON, nullable=True)
    centroid: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    face_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Consent: on what basis the person was enrolled, by whom (a key, the CLI), when.
    consent_basis: Mapped[str | None] = mapped_column(String(500), nullable=True)
    enrolled_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: When the person was last enrolled or recognised (retention of templates).
    last_seen_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, nullable=True, default=utcnow
    )
    #: "enrolled" (made by a user) or "auto" (a cluster; unnamed while name is "").
    origin: Mapped[str] = mapped_column(
        String(16), default="enrolled", server_default="enrolled", index=True
    )
    representative_face_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cohesion: Mapped[float | None] = mapped_column(Float, nullable=True)  # mean cos to centroid


class GalleryImage(Base):
    """One indexed or enrolled photo (the photo itself is not kept). ``image_id`` is
    the caller's id or the SHA-256 of the file; ``content_hash`` lets bulk indexing
    skip files it has already done."""

    __tablename__ = "gallery_images"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(String(255), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    person_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("gallery_persons.id", ondelete="CASCADE"), nullable=True, index=True
    )
    meta: Mapped[dict | None] = mapped_column("metadata", JSON, nullable=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GalleryFace(Base):
    """One face of an indexed image: its embedding (float32 bytes, unit norm) and
    detection. ``id`` is the face's id in the vector index."""

    __tablename__ = "gallery_faces"
    __table_args__ = (
        # a person's faces, and the count of its usable ones from the index alone
        Index("ix_gallery_faces_person_usable", "person_id", "usable"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_pk: Mapped[int] = mapped_column(
        Integer, ForeignKey("gallery_images.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("gallery_persons.id", ondelete="CASCADE"), nullable=True
    )
    box: Mapped[list] = mapped_column(JSON)
    det_score: Mapped[float] = mapped_column(Float)
    norm: Mapped[float] = mapped_column(Float)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Passed the face checks (or was forced in): only usable faces are searched,
    #: clustered and averaged into a person's template.
    usable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    checks: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # FaceCheck.as_dict()
    #: Who put the face in its person: "enrolled" or "user" (must-links that
    #: clustering never moves), "cluster" (clustering's own), None (no person).
    assigned_by: Mapped[str | None] = mapped_column(String(16), nullable=True)


class GalleryFaceCrop(Base):
    """The aligned 112x112 crop (JPEG) of a gallery face, for thumbnails and for
    re-embedding under a new model; kept unless ``gallery_store_crops`` is off, and
    deleted with its face."""

    __tablename__ = "gallery_face_crops"

    face_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("gallery_faces.id", ondelete="CASCADE"), primary_key=True
    )
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)


class Search(Base):
    """One answered ``/api/search``, kept only so its results can be voted on: the
    query embedding of each face searched (``faces`` x dim float32). Deleted after
    ``verification_embedding_hours``; a vote copies what it needs."""

    __tablename__ = "searches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    model_pack: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[float] = mapped_column(Float)
    faces: Mapped[int] = mapped_column(Integer)
    embeddings: Mapped[bytes] = mapped_column(LargeBinary)
    #: what each face's list showed: [[{person_id, face_id, score}, ...], ...];
    #: a vote names one of these, and copies its score
    shown: Mapped[list] = mapped_column(JSON)
    #: the face checks' reasons per face searched ([] passed); None: not checked
    refusals: Mapped[list | None] = mapped_column(JSON, nullable=True)


class SearchFeedback(Base):
    """A vote (up/down) on one search result as it was shown: the query face's
    embedding, the embedding of the gallery face shown (the person's best face, or
    an unlabelled face), the score shown, model and time. At most one per (search,
    face, result); deleted with that face or its person (erasure), kept when the
    search record expires."""

    __tablename__ = "search_feedback"
    __table_args__ = (
        UniqueConstraint("search_id", "face_index", "target", name="uq_search_feedback_target"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("searches.id", ondelete="SET NULL"), nullable=True
    )
    face_index: Mapped[int] = mapped_column(Integer)  # which face of the searched photo
    target: Mapped[str] = mapped_column(String(32))  # "person:<id>" or "face:<id>"
    person_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("gallery_persons.id", ondelete="CASCADE"), nullable=True, index=True
    )
    face_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("gallery_faces.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    model_pack: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    vote: Mapped[str] = mapped_column(String(8))  # "up" | "down"
    query_embedding: Mapped[bytes] = mapped_column(LargeBinary)
    result_embedding: Mapped[bytes] = mapped_column(LargeBinary)
    refusals: Mapped[list | None] = mapped_column(JSON, nullable=True)  # the searched face's


class GalleryState(Base):
    """One row: a generation counter bumped in the same transaction as every change
    of gallery faces, and the model pack the embeddings come from. The vector index
    file records the generation it reflects, so a stale file is detected on load."""

    __tablename__ = "gallery_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    #: A random id given to the gallery when its state row is made: an index file of
    #: another database (or of a gallery dropped and made again) is never trusted.
    instance: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: A random token of the latest change (the change log row holds the same), so
    #: an index at this generation of ANOTHER history (a restored backup) is caught.
    tag: Mapped[str | None] = mapped_column(String(16), nullable=True)
    model_pack: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)


class GalleryChange(Base):
    """The gallery's change log: one row per committed change of faces, written in
    the same transaction, ``seq`` being the generation that change produced. Every
    process brings its index up to date by replaying the rows after the generation
    it reflects (face ids only: no embeddings live here)."""

    __tablename__ = "gallery_changes"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    added: Mapped[bytes] = mapped_column(LargeBinary)  # int64 face ids, little-endian
    removed: Mapped[bytes] = mapped_column(LargeBinary)
    cleared: Mapped[bool] = mapped_column(Boolean, default=False)  # every face removed first
    tag: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: set on the change that switched the gallery to another model version: every
    #: embedding changed, so an index rebuilds from the database
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)


class FaceEmbedding(Base):
    """A gallery face's embedding under a model version other than the gallery's
    current one (``gallery_faces.embedding`` holds that): the next version's,
    re-embedded from the stored crop before a switch, and the previous ones', kept
    so a rollback is instant. Deleted with the face."""

    __tablename__ = "face_embeddings"

    face_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("gallery_faces.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    norm: Mapped[float] = mapped_column(Float)


class ModelVersionRow(Base):
    """A recogniser version of a model pack: the official file (``origin`` base) or
    a fine-tuned one; exactly one per pack is active. ``sha256`` is the version
    everything else records (``model_version`` columns)."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_pack", "sha256", name="uq_model_versions_file"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_pack: Mapped[str] = mapped_column(String(64), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    origin: Mapped[str] = mapped_column(String(16))  # "base" | "fine-tuned"
    file: Mapped[str] = mapped_column(String(255))  # relative to the pack's folder
    sha256: Mapped[str] = mapped_column(String(64))
    data_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    metrics: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    gate: Mapped[str] = mapped_column(String(16), default="none")  # passed|refused|none
    status: Mapped[str] = mapped_column(String(16))  # candidate | active | retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: the version that was active before this one last became active (rollback)
    previous_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


# --- access ---------------------------------------------------------------------
class ApiKeyRow(Base):
    """An API key: its public id, a name, one scope (verify < write < admin) and the
    SHA-256 of the whole key (the key itself is never stored)."""

    __tablename__ = "api_keys"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEntry(Base):
    """Who did what to personal data or to access: erasures, exports, key changes."""

    __tablename__ = "audit_log"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))  # "key:<id> (<name>)", "cli", "local"
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255), nullable=True)
    details: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class Job(Base):
    """One piece of long work (a clustering run, a re-embedding, a bulk index): its
    state, progress, and result or error. ``lock`` names what it holds exclusively
    while queued or running (e.g. "cluster:<gallery>"): one such job at a time."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "uq_jobs_active_lock",
            "lock",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued running succeeded failed
    lock: Mapped[str | None] = mapped_column(String(128), nullable=True)
    params: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message: Mapped[str | None] = mapped_column(String(255), nullable=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # {code, message}
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class JobPart(Base):
    """One finished part of a job split across workers (a batch of a distributed
    indexing job): written once per part, again if the part runs again."""

    __tablename__ = "job_parts"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    done: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FaceExclusion(Base):
    """A user's "not this person": clustering never puts the face in the person."""

    __tablename__ = "face_exclusions"

    face_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("gallery_faces.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("gallery_persons.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThresholdSetRow(Base):
    """One adopted set of decision thresholds for one model version. Append-only:
    the newest row of a model version is in force; going back to an older set
    appends a copy (``restored_from``), so the history says when, from what data
    and old -> new. A null value means "the settings' default"."""

    __tablename__ = "threshold_sets"
    __table_args__ = (
        Index("ix_threshold_sets_model", "model_pack", "model_version", "id"),
        # each set names the set it replaced (0: the first): two writers that both
        # start from the same set cannot both land (the second retries on the first)
        UniqueConstraint(
            "model_pack", "model_version", "previous_id", name="uq_threshold_sets_previous"
        ),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_pack: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    verify: Mapped[float | None] = mapped_column(Float, nullable=True)  # 1:1
    search: Mapped[float | None] = mapped_column(Float, nullable=True)  # 1:N
    #: how the values were found: {"verify": {...}, "search": {...}} (targets,
    #: sources, pairs, intervals); empty for values set by hand
    source: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    restored_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    previous_id: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonExemplar(Base):
    """A face a user confirmed as this person (a thumbs up on a search result): its
    embedding joins the person's template. Withdrawn with the vote (changed to
    down, or erased with the gallery face shown), by the user (undo), or with the
    person; at most ``template_exemplars_max`` per person."""

    __tablename__ = "person_exemplars"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("gallery_persons.id", ondelete="CASCADE"), index=True
    )
    vote_id: Mapped[int | None] = mapped_column(
        Integer,
        ForeignKey("search_feedback.id", ondelete="CASCADE"),
        nullable=True,
        unique=True,
    )
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    #: the recogniser that made the embedding: a template uses only its own version's
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)  # who confirmed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
