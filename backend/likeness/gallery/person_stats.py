"""A person's statistics: face count, template (the L2-normalised mean of its usable
faces), representative face (the usable face nearest the template) and cohesion
(the usable faces' mean cosine to the template).

They are kept in the person's row and refreshed from its faces after a change.
When a person only gains faces (new faces assigned as they are indexed), they are
extended instead without reading the person's other faces: the sum of a person's
usable faces is ``template * cohesion * n_usable`` (the template is the sum over
its length, the cohesion that length over n), so the new faces are added to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from likeness.gallery.codec import from_bytes, to_bytes
from likeness.storage.models import GalleryFace, GalleryPerson

#: Persons per statement (one SQL ``IN`` list).
_PART = 500


def _stats(rows: list) -> dict:
    """Template, representative face and cohesion of ``(face id, embedding)`` rows."""
    if not rows:
        return {"centroid": None, "representative_face_id": None, "cohesion": None}
    vectors = np.stack([from_bytes(blob) for _, blob in rows])
    mean = vectors.mean(axis=0)
    centre = mean / max(float(np.linalg.norm(mean)), 1e-12)
    sims = vectors @ centre
    return {
        "centroid": to_bytes(centre),
        "representative_face_id": int(rows[int(np.argmax(sims))][0]),
        "cohesion": float(sims.mean()),
    }


def refresh_person(session: Session, person_id: int) -> None:
    """Recompute a person's face count, template (L2-normalised mean of its usable
    faces), representative face (the usable one nearest the template) and cohesion
    (mean cosine to it), from its faces, in the caller's transaction."""
    person = session.get(GalleryPerson, person_id)
    if person is None:
        return
    rows = session.execute(
        select(GalleryFace.id, GalleryFace.embedding).where(
            GalleryFace.person_id == person_id, GalleryFace.usable.is_(True)
        )
    ).all()
    person.face_count = int(
        session.scalar(select(func.count(GalleryFace.id)).where(GalleryFace.person_id == person_id))
        or 0
    )
    for key, value in _stats(rows).items():
        setattr(person, key, value)


def refresh_persons(session: Session, person_ids: Sequence[int]) -> None:
    """``refresh_person`` for many persons with a few statements per 500, not three
    each: an UPDATE by id (a person erased meanwhile is simply not found; no error)."""
    ids = sorted({int(p) for p in person_ids})
    for start in range(0, len(ids), _PART):
        part = ids[start : start + _PART]
        counts = _counts(session, part)
        faces: dict[int, list] = {}
        for person_id, face_id, blob in session.execute(
            select(GalleryFace.person_id, GalleryFace.id, GalleryFace.embedding).where(
                GalleryFace.person_id.in_(part), GalleryFace.usable.is_(True)
            )
        ):
            faces.setdefault(person_id, []).append((face_id, blob))
        _write(
            session,
            [_row(p, counts.get(p, (0, 0))[0], faces.get(p, [])) for p in part],
        )


def _row(person_id: int, count: int, rows: list) -> dict:
    stats = _stats(rows)
    return {
        "b_id": person_id,
        "b_count": int(count),
        "b_centroid": stats["centroid"],
        "b_face": stats["representative_face_id"],
        "b_cohesion": stats["cohesion"],
    }


def _write(session: Session, rows: list[dict]) -> None:
    if not rows:
        return
    table = GalleryPerson.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            face_count=bindparam("b_count"),
            centroid=bindparam("b_centroid"),
            representative_face_id=bindparam("b_face"),
            cohesion=bindparam("b_cohesion"),
        ),
        rows,
    )


def _counts(session: Session, person_ids: list[int]) -> dict[int, tuple[int, int]]:
    """``person -> (faces, usable faces)``, read from the (person_id, usable) index."""
    out: dict[int, list[int]] = {}
    for person_id, usable, count in session.execute(
        select(GalleryFace.person_id, GalleryFace.usable, func.count())
        .where(GalleryFace.person_id.in_(person_ids))
        .group_by(GalleryFace.person_id, GalleryFace.usable)
    ):
        totals = out.setdefault(person_id, [0, 0])
        totals[0] += int(count)
        if usable:
            totals[1] += int(count)
    return {p: (t[0], t[1]) for p, t in out.items()}


def extend_persons(
    session: Session, placed: Mapping[int, int], vectors: Mapping[int, np.ndarray]
) -> None:
    """Update the statistics of persons that have just gained the usable faces
    ``placed`` (face -> person; ``vectors[face]`` its unit embedding) from their
    running sums, without reading their other faces. The representative becomes
    the one nearest the new template among the old representative and the new
    faces (a full run that changes the person picks among all its faces). A person
    whose row cannot be extended is refreshed from its faces: no template yet, its
    representative gone, or a stored face count that is not the count before these
    faces (another writer placed or removed faces meanwhile). A face that is not in
    its person (a concurrent change moved it) is not counted."""
    faces = sorted(placed)
    where: dict[int, int | None] = {}
    for start in range(0, len(faces), _PART):
        part = faces[start : start + _PART]
        where.update(
            session.execute(
                select(GalleryFace.id, GalleryFace.person_id).where(GalleryFace.id.in_(part))
            ).all()
        )
    gained: dict[int, list[int]] = {}
    for face_id in faces:
        if where.get(face_id) == placed[face_id]:
            gained.setdefault(placed[face_id], []).append(face_id)
    persons = sorted(gained)
    for start in range(0, len(persons), _PART):
        part = persons[start : start + _PART]
        counts = _counts(session, part)
        rows = session.execute(
            select(
                GalleryPerson.id,
                GalleryPerson.centroid,
                GalleryPerson.cohesion,
                GalleryPerson.representative_face_id,
                GalleryPerson.face_count,
            ).where(GalleryPerson.id.in_(part))
        ).all()
        reps = {r[3] for r in rows if r[3] is not None}
        rep_rows = {
            face_id: (person_id, usable, blob)
            for face_id, person_id, usable, blob in session.execute(
                select(
                    GalleryFace.id, GalleryFace.person_id, GalleryFace.usable, GalleryFace.embedding
                ).where(GalleryFace.id.in_(sorted(reps)))
            )
        }
        updates, exact = [], []
        for person_id, centroid, cohesion, rep, stored_count in rows:
            added = gained[person_id]
            total, usable = counts.get(person_id, (0, 0))
            before = usable - len(added)
            rep_row = rep_rows.get(rep)
            if (
                # the stored statistics describe exactly the faces before these
                # (else another writer placed or removed faces meanwhile: recompute)
                stored_count + len(added) != total
                or centroid is None
                or cohesion is None
                or before <= 0
                or rep_row is None
                or rep_row[0] != person_id
                or not rep_row[1]
            ):
                exact.append(person_id)
                continue
            new = np.stack([np.asarray(vectors[f], np.float64) for f in added])
            sum_ = from_bytes(centroid).astype(np.float64) * float(cohesion) * before
            sum_ += new.sum(axis=0)
            length = float(np.linalg.norm(sum_))
            centre = sum_ / max(length, 1e-12)
            candidates = [rep, *added]
            sims = np.vstack([from_bytes(rep_row[2]).astype(np.float64), new]) @ centre
            updates.append(
                {
                    "b_id": person_id,
                    "b_count": total,
                    "b_centroid": to_bytes(centre),
                    "b_face": int(candidates[int(np.argmax(sims))]),
                    "b_cohesion": length / usable,
                }
            )
        _write(session, updates)
        refresh_persons(session, exact)
