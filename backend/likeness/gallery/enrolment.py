"""Which photos of an enrolment are accepted: one face each, no repeats, and
faces that match the person (its existing template, or, for a new person, the
other photos sent with it) above the 1:1 threshold."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from likeness.errors import FaceRejectedError, ValidationError
from likeness.gallery.bulk import Failure
from likeness.gallery.faces import LARGEST, STRICT, PreparedImage
from likeness.gallery.store import NewFace, PersonInfo
from likeness.quality import FaceCheck

#: What each failed face check tells the person enrolling.
REJECTION_MESSAGES = {
    "too_small": "The face is too small to check; use a closer or larger photo.",
    "cartoon": "The face looks drawn (a cartoon or illustration), not photographed.",
    "low_quality": "The face is too blurred, small or unclear to make a good template.",
    "spoof": "The face does not look live.",
}


#: Enrolment face policies: the photo must show one face, or its largest is used.
FACE_POLICIES = {"strict": STRICT, "largest": LARGEST}


def face_mode(policy: str) -> str:
    """The ``prepare`` mode of an enrolment face policy (ValidationError if unknown)."""
    if policy not in FACE_POLICIES:
        raise ValidationError(
            f"face_policy must be one of {', '.join(FACE_POLICIES)}.", field="face_policy"
        )
    return FACE_POLICIES[policy]


def face_rejected(check: FaceCheck) -> FaceRejectedError:
    """The error for a face that failed a check, naming the first failed check."""
    reason = check.rejection_reason or ""
    return FaceRejectedError(
        REJECTION_MESSAGES.get(reason, "The face failed the face checks."),
        reason=reason,
        check=check.as_dict(),
    )


@dataclass
class Candidate:
    index: int
    label: str
    item: PreparedImage
    faces: list[NewFace]

    @property
    def embedding(self) -> np.ndarray:
        return np.asarray(self.faces[0].embedding, np.float32)


@dataclass
class Refusal:
    index: int
    source: str
    code: str
    message: str
    reason: str | None = None
    check: dict | None = None


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


@dataclass
class Plan:
    threshold: float
    template: np.ndarray | None  # the person's centroid (None: a new person)
    allow_mismatch: bool = False
    offered: list[Candidate] = field(default_factory=list)
    rejected: list[Refusal] = field(default_factory=list)

    def reject(
        self,
        index: int,
        source: str,
        code: str,
        message: str,
        reason: str | None = None,
        check: dict | None = None,
    ) -> None:
        self.rejected.append(Refusal(index, source, code, message, reason, check))

    def offer(self, index: int, label: str, item: PreparedImage, faces: list[NewFace]) -> None:
        if any(c.item.content_hash == item.content_hash for c in self.offered):
            self.reject(index, label, "DUPLICATE_IMAGE", "The same photo was sent twice.")
            return
        self.offered.append(Candidate(index, label, item, faces))

    def decide(self) -> list[Candidate]:
        """The accepted candidates; the others are added to ``rejected``. Against an
        existing person's template; for a new person, each photo against the mean of
        the OTHER photos (so one stranger among them cannot become the template)."""
        if self.allow_mismatch or not self.offered:
            return list(self.offered)
        vectors = np.stack([c.embedding for c in self.offered])
        accepted = []
        for i, candidate in enumerate(self.offered):
            if self.template is not None:
                reference = np.asarray(self.template, np.float32)
            elif len(self.offered) > 1:
                reference = _unit(vectors.sum(axis=0) - vectors[i])
            else:
                accepted.append(candidate)
                continue
            score = float(np.dot(vectors[i], _unit(reference)))
            if score >= self.threshold:
                accepted.append(candidate)
            else:
                whom = (
                    "the person's enrolled faces"
                    if self.template is not None
                    else ("the other photos sent")
                )
                self.reject(
                    candidate.index,
                    candidate.label,
                    "FACE_MISMATCH",
                    f"This face does not match {whom} (similarity {score:.3f}, threshold "
                    f"{self.threshold:.2f}); send allow_mismatch to enrol it anyway.",
                )
        self.rejected.sort(key=lambda r: r.index)
        return accepted


@dataclass
class Rejection(Failure):
    """A photo refused at enrolment: a bulk failure plus its place in the request."""

    index: int = -1

    def as_dict(self) -> dict:
        return {"index": self.index, **super().as_dict()}


@dataclass
class EnrolmentResult:
    person: PersonInfo
    accepted: list[dict] = field(default_factory=list)  # {index, source, image_id, face_id}
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "person": self.person.as_dict(),
            "accepted": list(self.accepted),
            "rejected": [r.as_dict() for r in self.rejected],
        }


@dataclass
class RemovalReport:
    faces: int
    image_ids: list[str]
    person_ids: list[int]
