"""The gallery under another model version: re-embed every face from its stored
crop (``stage``), then switch every embedding in one transaction (``switch``).

``gallery_faces.embedding`` always holds the gallery's current version; the
embeddings of other versions (the next one, staged; the previous ones, kept for an
instant rollback) live in ``face_embeddings``. A switch moves the current ones
there, brings the new ones in, recomputes every person's template, stamps the
gallery with the new version and logs a change that makes every process rebuild
its index: no search ever compares vectors of two versions."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from sqlalchemy import delete, exists, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from likeness.errors import ModelNotActivatableError
from likeness.gallery.person_stats import refresh_persons
from likeness.gallery.store import Change, GalleryStore
from likeness.storage.models import (
    FaceEmbedding,
    GalleryFace,
    GalleryFaceCrop,
    GalleryPerson,
    GalleryState,
)

#: ``embed(crops) -> (unit embeddings, raw norms)``: the new version's recogniser
Embed = Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray]]
BATCH = 256


def _missing(version: str):
    """Faces with no embedding of ``version`` yet."""
    staged = exists().where(
        FaceEmbedding.face_id == GalleryFace.id, FaceEmbedding.model_version == version
    )
    return ~staged


def count_missing(session: Session, version: str) -> tuple[int, int]:
    """(faces to re-embed, of which without a stored crop)."""
    todo = session.scalar(select(func.count(GalleryFace.id)).where(_missing(version))) or 0
    no_crop = (
        session.scalar(
            select(func.count(GalleryFace.id)).where(
                _missing(version),
                ~exists().where(GalleryFaceCrop.face_id == GalleryFace.id),
            )
        )
        or 0
    )
    return int(todo), int(no_crop)


def _stage_batch(session: Session, version: str, embed: Embed, after: int) -> tuple[int, int]:
    """Re-embed the next batch of faces after id ``after``: (faces done, last id)."""
    rows = session.execute(
        select(GalleryFace.id, GalleryFaceCrop.jpeg)
        .join(GalleryFaceCrop, GalleryFaceCrop.face_id == GalleryFace.id)
        .where(GalleryFace.id > after, _missing(version))
        .order_by(GalleryFace.id)
        .limit(BATCH)
    ).all()
    if not rows:
        return 0, after
    crops, ids = [], []
    for face_id, jpeg in rows:
        crop = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if crop is not None:
            crops.append(crop)
            ids.append(face_id)
    if crops:
        unit, norms = embed(crops)
        session.execute(
            insert(FaceEmbedding),
            [
                {
                    "face_id": int(i),
                    "model_version": version,
                    "embedding": np.asarray(u, np.float32).tobytes(),
                    "norm": float(n),
                }
                for i, u, n in zip(ids, unit, norms, strict=True)
            ],
        )
    return len(rows), int(rows[-1][0])


def stage(
    store: GalleryStore,
    version: str,
    embed: Embed,
    progress: Callable[[int, int | None, str | None], None] | None = None,
) -> dict:
    """Re-embed every face that has no embedding of ``version`` (from its stored
    crop; a batch per transaction, so a restart goes on where it stopped)."""
    with store.db.session() as session:
        todo, no_crop = count_missing(session, version)
    done, after, clashes = 0, 0, 0
    while True:
        try:
            with store.db.session() as session:
                count, next_after = _stage_batch(session, version, embed, after)
        except IntegrityError:  # a face of the batch was erased meanwhile: redo it
            clashes += 1
            if clashes > 10:
                raise
            continue
        after = next_after
        if not count:
            break
        done += count
        if progress:
            progress(done, todo, f"re-embedded {done} of {todo} faces")
    return {"reembedded": done, "without_crop": no_crop}


def switch(store: GalleryStore, old: str | None, new: str, embed: Embed, also=None) -> Change:
    """Make ``new`` the gallery's version in one transaction (``also(session)`` runs
    inside it: the registry marks the version active there). Faces added since the
    staging are re-embedded here; a face without a crop stops the switch."""
    with store.db.session() as session:
        position = store._bump(session)  # the write lock, first
        state = session.get(GalleryState, 1)
        current = state.model_version if state is not None else None
        if current is not None and old is not None and current != old:
            raise ModelNotActivatableError(
                f"The gallery is at version {current[:12]}, not {old[:12]}: try again."
            )
        after = 0
        while True:
            count, after = _stage_batch(session, new, embed, after)
            if not count:
                break
        left = session.scalar(select(func.count(GalleryFace.id)).where(_missing(new))) or 0
        if left and current is not None:
            raise ModelNotActivatableError(
                f"{left} gallery faces have no stored crop to re-embed under the new "
                "model; re-index their photos or remove them first."
            )
        if current is not None:
            session.execute(delete(FaceEmbedding).where(FaceEmbedding.model_version == current))
            session.execute(
                insert(FaceEmbedding).from_select(
                    ["face_id", "model_version", "embedding", "norm"],
                    select(
                        GalleryFace.id, literal(current), GalleryFace.embedding, GalleryFace.norm
                    ),  # fmt: skip
                )
            )
            staged = select(FaceEmbedding).where(
                FaceEmbedding.face_id == GalleryFace.id, FaceEmbedding.model_version == new
            )
            session.execute(
                update(GalleryFace).values(
                    embedding=staged.with_only_columns(FaceEmbedding.embedding).scalar_subquery(),
                    norm=staged.with_only_columns(FaceEmbedding.norm).scalar_subquery(),
                )
            )
        session.execute(delete(FaceEmbedding).where(FaceEmbedding.model_version == new))
        people = session.scalars(select(GalleryPerson.id)).all()
        refresh_persons(session, people)
        state = store._state(session)
        state.model_pack = store.model_pack
        state.model_version = new
        change = Change.at(position)
        store._log(session, change, model_version=new)
        if also is not None:
            also(session)
    return change


def forget(store: GalleryStore, version: str) -> int:
    """Drop the kept embeddings of ``version`` (a retired version, say)."""
    with store.db.session() as session:
        done = session.execute(delete(FaceEmbedding).where(FaceEmbedding.model_version == version))
    return int(done.rowcount or 0)
