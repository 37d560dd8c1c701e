"""Searches kept for voting, and votes on search results (the learning loop's 1:N
data, issue 13).

A search records the query embedding of each face it searched and the results it
showed (person, face, score), under a random id returned with the results; nothing
else of the photo is kept, and the record is deleted after
``verification_embedding_hours`` (or ``verification_max_days`` when that is unset;
``likeness purge``). A vote names the search, the face (its index in the results)
and one result it showed (a person, or an unlabelled face), and copies what the
learning loop needs: the query face's embedding, the embedding of the gallery face
shown for that result, the score shown, the threshold, the model and the time.
Voting again changes the vote. Erasing the face shown, or its person, deletes the
vote.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from likeness.errors import (
    ConflictError,
    FaceNotFoundError,
    PersonNotFoundError,
    SearchNotFoundError,
    ValidationError,
)
from likeness.storage.db import Database
from likeness.storage.models import (
    FaceEmbedding,
    GalleryFace,
    GalleryPerson,
    GalleryState,
    Search,
    SearchFeedback,
    utcnow,
)

VOTES = ("up", "down")
_BATCH = 200


@dataclass
class SearchVote:
    record: SearchFeedback
    created: bool
    exemplar_id: int | None = None  # the person's template learned the searched face

    def as_dict(self) -> dict:
        row = self.record
        return {
            "id": row.id,
            "search_id": row.search_id,
            "face": row.face_index,
            "person_id": row.person_id,
            "face_id": row.face_id,
            "vote": row.vote,
            "score": round(float(row.score), 6),
            "threshold": row.threshold,
            "model_pack": row.model_pack,
            "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
            "exemplar_id": self.exemplar_id,
        }


class SearchRecords:
    """Record searches; take and change votes on their results."""

    def __init__(self, db: Database, model_pack: str = "", model_version: str = "") -> None:
        self.db = db
        self.model_pack = model_pack
        self.model_version = model_version

    def record(
        self,
        embeddings: np.ndarray,
        threshold: float,
        shown: list[list[dict]],
        refusals: list[list[str]] | None = None,
    ) -> str:
        """Keep the query embeddings (one row per face searched), what each face's
        list showed (``{person_id, face_id, score}`` per candidate) and the face
        checks' reasons per face (``refusals``, when they ran); returns the id."""
        vectors = np.asarray(embeddings, "<f4").reshape(len(embeddings), -1)
        search_id = uuid.uuid4().hex
        with self.db.session() as session:
            session.add(
                Search(
                    id=search_id,
                    model_pack=self.model_pack,
                    model_version=self.model_version,
                    threshold=float(threshold),
                    faces=len(vectors),
                    embeddings=vectors.tobytes(),
                    shown=[
                        [
                            {
                                "person_id": c["person_id"],
                                "face_id": int(c["face_id"]),
                                "score": float(c["score"]),
                            }
                            for c in candidates
                        ]
                        for candidates in shown
                    ],
                    refusals=None if refusals is None else [list(r) for r in refusals],
                )
            )
        return search_id

    def vote(
        self,
        search_id: str,
        vote: str,
        face: int = 0,
        person_id: int | None = None,
        face_id: int | None = None,
    ) -> SearchVote:
        """Record (``created``) or change a vote on one result of one searched face."""
        if vote not in VOTES:
            raise ValidationError(f"vote must be one of {', '.join(VOTES)}.", field="vote")
        if (person_id is None) == (face_id is None):
            raise ValidationError("Send person_id or face_id (one of them).", field="person_id")
        for attempt in range(2):
            try:
                return self._vote(search_id, vote, int(face), person_id, face_id)
            except IntegrityError:  # two first votes raced: the loser updates the winner's
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _vote(self, search_id, vote, face, person_id, face_id) -> SearchVote:
        target = f"person:{person_id}" if person_id is not None else f"face:{face_id}"
        with self.db.session() as session:
            existing = session.scalars(
                select(SearchFeedback).where(
                    SearchFeedback.search_id == search_id,
                    SearchFeedback.face_index == face,
                    SearchFeedback.target == target,
                )
            ).one_or_none()
            if existing is not None:
                existing.vote = vote
                existing.updated_at = utcnow()
                session.flush()
                return SearchVote(existing, created=False)
            search = session.get(Search, search_id)
            if search is None:
                raise SearchNotFoundError(
                    f"No search '{search_id}' is kept: it never was, or it is older than "
                    "LIKENESS_VERIFICATION_EMBEDDING_HOURS.",
                    field="search_id",
                )
            if not 0 <= face < search.faces:
                raise ValidationError(
                    f"face must be between 0 and {search.faces - 1} for this search.",
                    field="face",
                )
            # only a result the search showed for that face can be voted on, with
            # the score it showed (not a score computed now against anyone)
            if person_id is not None:
                key, wanted = "person_id", person_id
                found = (c for c in search.shown[face] if c["person_id"] == person_id)
            else:  # an unlabelled face (a person's result is voted on by person_id)
                key, wanted = "face_id", face_id
                found = (
                    c
                    for c in search.shown[face]
                    if c["face_id"] == face_id and c["person_id"] is None
                )
            candidate = next(found, None)
            if candidate is None:
                raise ValidationError(
                    f"{key} {wanted} was not among the results of face {face} of this search.",
                    field=key,
                )
            person = candidate["person_id"]
            if person is not None and session.get(GalleryPerson, person) is None:
                raise PersonNotFoundError(  # merged into another, or erased, since
                    f"Person {person} was merged or erased since the search.", field=key
                )
            shown_face = session.get(GalleryFace, candidate["face_id"])
            if shown_face is None:  # erased since the search
                raise FaceNotFoundError(
                    f"The face shown for this result ({candidate['face_id']}) was erased.",
                    field=key,
                )
            shown_embedding = _embedding_of(session, shown_face, search.model_version, key)
            dim = len(search.embeddings) // 4 // search.faces
            query = np.frombuffer(search.embeddings, "<f4")[face * dim : (face + 1) * dim]
            now = utcnow()
            row = SearchFeedback(
                search_id=search_id,
                face_index=face,
                target=target,
                person_id=candidate["person_id"],
                face_id=candidate["face_id"],
                created_at=now,
                updated_at=now,
                model_pack=search.model_pack,
                model_version=search.model_version,
                score=float(candidate["score"]),
                threshold=search.threshold,
                vote=vote,
                query_embedding=query.tobytes(),
                result_embedding=shown_embedding,
                refusals=None if search.refusals is None else search.refusals[face],
            )
            session.add(row)
            session.flush()
            return SearchVote(row, created=True)

    def count(self) -> int:
        with self.db.session() as session:
            return session.scalar(select(func.count()).select_from(SearchFeedback)) or 0

    def iter_votes(self) -> Iterator[SearchFeedback]:
        """Every vote, oldest first, in batches (constant memory)."""
        return self.db.iter_rows(SearchFeedback, _BATCH)


def _embedding_of(session, face: GalleryFace, version: str, field: str) -> bytes:
    """The shown face's embedding under the searched version: a vote pairs two
    embeddings of one model (after a switch of model, the gallery keeps the earlier
    version's in ``face_embeddings``)."""
    state = session.get(GalleryState, 1)
    if state is None or state.model_version in (None, version):
        return face.embedding
    kept = session.get(FaceEmbedding, (face.id, version))
    if kept is None:
        raise ConflictError(
            "The model changed since this search and its result cannot be compared "
            "under the earlier one any more: search again to vote.",
            field=field,
        )
    return kept.embedding
