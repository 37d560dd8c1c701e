"""Person templates that learn from confirmations (issue 14).

A thumbs up on a search result says "this face is that person": the searched
face's embedding becomes an *exemplar* of the person. A person's template is
then its centroid (the mean of its usable gallery faces, each confirmed face
weighing as one more face) plus the capped set of exemplars:

* search scores a person by its best face **or** its best exemplar, so a look
  the gallery photos do not show (new glasses, ten years on) is found once a
  user has confirmed it;
* enrolment matches new photos against the learned centroid.

Only a face that already matches the person's face shown at the 1:N threshold
in force (search showed it as a match) is learned: a thumbs up cannot teach the
gallery that a stranger is someone (the vote is still kept, as a vote). Who
confirmed is recorded.

Undo: changing the vote to down, or removing the exemplar, takes it out again
(and erasing the person or the face the vote was on takes it with them). Past
``template_exemplars_max`` the most redundant exemplar (the one nearest to
another) gives way, so the set stays varied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import BigInteger, cast, delete, func, select
from sqlalchemy.exc import IntegrityError

from likeness.errors import ExemplarNotFoundError
from likeness.gallery.store import MAX_ID
from likeness.storage.db import Database
from likeness.storage.models import GalleryFace, GalleryPerson, PersonExemplar, SearchFeedback


@dataclass(frozen=True)
class Exemplar:
    id: int
    person_id: int
    vote_id: int | None
    created_at: datetime
    centroid_score: float | None  # cosine with the person's face centroid

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "person_id": self.person_id,
            "vote_id": self.vote_id,
            "created_at": self.created_at.isoformat(),
            "centroid_score": None
            if self.centroid_score is None
            else round(self.centroid_score, 6),
        }


def _vectors(rows) -> np.ndarray:
    return np.stack([np.frombuffer(r, np.float32) for r in rows]) if rows else np.zeros((0, 0))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def _locked_vote(session, vote_id: int) -> SearchFeedback | None:
    """The vote, locked for this transaction: its row on PostgreSQL; on SQLite a
    write statement first takes the database's write lock."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(delete(PersonExemplar).where(PersonExemplar.id < 0))
    return session.scalars(
        select(SearchFeedback).where(SearchFeedback.id == vote_id).with_for_update()
    ).first()


class Templates:
    """Exemplars of persons, and the templates they make."""

    def __init__(self, db: Database, cap: int = 20, version: str | None = None) -> None:
        self.db = db
        self.cap = cap
        #: the model version of the gallery: only its exemplars make templates (an
        #: exemplar of another version is kept, for a rollback, but never compared)
        self.version = version
        self._cache: tuple[tuple, np.ndarray, np.ndarray] | None = None

    def _mine(self, query):
        if self.version is None:
            return query
        return query.where(PersonExemplar.model_version == self.version)

    def confirm(
        self, person_id: int, vote_id: int, embedding: np.ndarray, created_by: str | None = None
    ) -> int | None:
        """Add (or replace) the exemplar of this vote; returns its id (None when the
        cap left it out as the most redundant, or the vote is no longer up)."""
        raw = _unit(np.asarray(embedding, np.float32).reshape(-1)).astype(np.float32).tobytes()
        for attempt in range(3):
            try:
                return self._confirm(person_id, vote_id, raw, created_by)
            except IntegrityError:  # the same vote confirmed by another worker just now
                if attempt == 2:
                    raise
        return None

    def _confirm(self, person_id: int, vote_id: int, raw: bytes, created_by) -> int | None:
        with self.db.session() as session:
            vote = _locked_vote(session, vote_id)  # a racing vote change waits for this
            if vote is None or vote.vote != "up" or vote.person_id != person_id:
                return None  # changed meanwhile (a down vote raced this one)
            session.execute(delete(PersonExemplar).where(PersonExemplar.vote_id == vote_id))
            row = PersonExemplar(
                person_id=person_id,
                vote_id=vote_id,
                embedding=raw,
                created_by=created_by,
                model_version=self.version,
            )
            session.add(row)
            session.flush()
            made = row.id
            rows = session.execute(
                self._mine(select(PersonExemplar.id, PersonExemplar.embedding))
                .where(PersonExemplar.person_id == person_id)
                .order_by(PersonExemplar.id)  # oldest first: of two alike, the newer goes
            ).all()
            if len(rows) > self.cap:
                drop = self._most_redundant(rows, len(rows) - self.cap)
                session.execute(delete(PersonExemplar).where(PersonExemplar.id.in_(drop)))
                if made in drop:
                    return None
        return made

    @staticmethod
    def _most_redundant(rows, count: int) -> list[int]:
        ids = [r[0] for r in rows]
        x = _vectors([r[1] for r in rows])
        similar = x @ x.T
        np.fill_diagonal(similar, -np.inf)
        dropped: list[int] = []
        alive = np.ones(len(ids), bool)
        for _ in range(count):
            masked = np.where(alive[:, None] & alive[None, :], similar, -np.inf)
            i, j = np.unravel_index(int(np.argmax(masked)), masked.shape)
            victim = max(i, j)  # of the closest two, the newer one goes
            alive[victim] = False
            dropped.append(ids[victim])
        return dropped

    def withdraw(self, vote_id: int) -> bool:
        """Take out the exemplar a vote made (the vote changed to down), unless an up
        vote raced in meanwhile."""
        with self.db.session() as session:
            vote = _locked_vote(session, vote_id)
            if vote is not None and vote.vote == "up":
                return False
            done = session.execute(delete(PersonExemplar).where(PersonExemplar.vote_id == vote_id))
            return bool(done.rowcount)

    def remove(self, person_id: int, exemplar_id: int) -> None:
        """Undo one confirmation by hand."""
        with self.db.session() as session:
            row = session.get(PersonExemplar, exemplar_id) if 1 <= exemplar_id <= MAX_ID else None
            if row is None or row.person_id != person_id:
                raise ExemplarNotFoundError(
                    f"Person {person_id} has no confirmed face {exemplar_id}."
                )
            session.delete(row)

    def list(self, person_id: int) -> list[Exemplar]:
        with self.db.session() as session:
            centroid = session.scalar(
                select(GalleryPerson.centroid).where(GalleryPerson.id == person_id)
            )
            rows = session.scalars(
                self._mine(select(PersonExemplar))
                .where(PersonExemplar.person_id == person_id)
                .order_by(PersonExemplar.id)
            ).all()
            mean = None if centroid is None else np.frombuffer(centroid, np.float32)
            return [
                Exemplar(
                    r.id,
                    r.person_id,
                    r.vote_id,
                    r.created_at,
                    None if mean is None else float(np.frombuffer(r.embedding, np.float32) @ mean),
                )
                for r in rows
            ]

    def best_scores(self, person_ids: list[int], vector: np.ndarray) -> dict[int, float]:
        """Each person's best exemplar score for ``vector`` (persons without any:
        left out)."""
        if not person_ids:
            return {}
        with self.db.session() as session:
            rows = session.execute(
                self._mine(select(PersonExemplar.person_id, PersonExemplar.embedding)).where(
                    PersonExemplar.person_id.in_(sorted(set(person_ids)))
                )
            ).all()
        best: dict[int, float] = {}
        if rows:
            scores = _vectors([r[1] for r in rows]) @ np.asarray(vector, np.float32)
            for (pid, _), score in zip(rows, scores, strict=True):
                best[pid] = max(best.get(pid, -1.0), float(score))
        return best

    def centroid(
        self, person_id: int, faces_centroid: np.ndarray | None, faces: int
    ) -> np.ndarray | None:
        """The learned centroid: the faces' centroid (``faces`` of them) with each
        exemplar weighing as one more face."""
        with self.db.session() as session:
            rows = session.scalars(
                self._mine(select(PersonExemplar.embedding)).where(
                    PersonExemplar.person_id == person_id
                )
            ).all()
        if not rows:
            return faces_centroid
        total = _vectors(list(rows)).sum(axis=0)
        if faces_centroid is not None:
            total = total + np.asarray(faces_centroid, np.float32) * max(faces, 1)
        return _unit(total).astype(np.float32)

    def follow_vote(self, vote, threshold: float, created_by: str | None = None) -> int | None:
        """Learn from a vote on a search result (``SearchFeedback``): a thumbs up on
        a person whose face shown matches the searched face at ``threshold`` (the
        1:N threshold in force: search called it a match) adds it (its exemplar id
        is returned); anything else takes it out."""
        query = np.frombuffer(vote.query_embedding, np.float32)
        shown = np.frombuffer(vote.result_embedding, np.float32)
        same_model = self.version is None or vote.model_version == self.version
        if (
            vote.vote == "up"
            and vote.person_id is not None
            and same_model
            and float(query @ shown) >= threshold
        ):
            return self.confirm(vote.person_id, vote.id, query, created_by)
        self.withdraw(vote.id)
        return None

    # -- search ---------------------------------------------------------------------
    def _matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """Every exemplar (rows) and its person, re-read when the table changed."""
        with self.db.session() as session:
            # the person times a function of the id: a merge changes it (sums alone may not)
            person = cast(PersonExemplar.person_id, BigInteger)
            mixed = (person * (PersonExemplar.id % 1009 + 1)) % 1000003
            signature = tuple(  # changes with any insert, delete or move (merge)
                session.execute(
                    self._mine(
                        select(
                            func.count(PersonExemplar.id),
                            func.max(PersonExemplar.id),
                            func.sum(PersonExemplar.person_id),
                            func.sum(mixed),
                        )
                    )
                ).one()
            ) + (self.version,)
            cached = self._cache
            if cached is not None and cached[0] == signature:
                return cached[1], cached[2]
            rows = session.execute(
                self._mine(select(PersonExemplar.person_id, PersonExemplar.embedding))
            ).all()
        matrix = _vectors([r[1] for r in rows]) if rows else np.zeros((0, 0), np.float32)
        people = np.array([r[0] for r in rows], np.int64)
        self._cache = (signature, matrix, people)
        return matrix, people

    def search(self, vector: np.ndarray, count: int) -> list[tuple[int, float, int]]:
        """The ``count`` persons whose confirmed faces best match ``vector``: (person,
        score, a face of theirs to show), best first."""
        matrix, people = self._matrix()
        if not len(people):
            return []
        scores = matrix @ np.asarray(vector, np.float32)
        best: dict[int, float] = {}
        for i in np.argsort(-scores, kind="stable"):
            pid = int(people[i])
            if pid not in best:
                best[pid] = float(scores[i])
                if len(best) == count:
                    break
        shown = self._faces_to_show(list(best))
        return [(pid, score, shown[pid]) for pid, score in best.items() if pid in shown]

    def _faces_to_show(self, person_ids: list[int]) -> dict[int, int]:
        """Each person's representative face, else any usable face of theirs."""
        with self.db.session() as session:
            rows = session.execute(
                select(GalleryPerson.id, GalleryPerson.representative_face_id).where(
                    GalleryPerson.id.in_(person_ids)
                )
            ).all()
            found = {pid: face for pid, face in rows if face is not None}
            missing = [pid for pid, _ in rows if pid not in found]
            if missing:
                fallback = session.execute(
                    select(GalleryFace.person_id, func.min(GalleryFace.id))
                    .where(GalleryFace.person_id.in_(missing), GalleryFace.usable)
                    .group_by(GalleryFace.person_id)
                ).all()
                found.update({pid: face for pid, face in fallback})
        return found
