"""What a search answers: ranked candidates per face, and a search's faces together
under the id its votes refer to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from likeness.gallery.gallery import Hit


@dataclass
class SearchResult:
    """Ranked candidates; ``matches`` are those at or above the threshold. An empty
    ``matches`` means the face is unknown to the gallery."""

    candidates: list[Hit]
    threshold: float
    face: dict | None = None  # the probe face used (box, landmarks, score)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def matches(self) -> list[Hit]:
        return [hit for hit in self.candidates if hit.score >= self.threshold]

    @property
    def identity(self) -> Hit | None:
        matches = self.matches
        return matches[0] if matches else None

    @property
    def unknown(self) -> bool:
        return self.identity is None

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.matches)

    def __len__(self) -> int:
        return len(self.matches)

    def __getitem__(self, item: int) -> Hit:
        return self.matches[item]

    def as_dict(self) -> dict:
        identity = self.identity
        return {
            "unknown": identity is None,
            "identity": identity.as_dict() if identity else None,
            "threshold": self.threshold,
            "matches": [hit.as_dict() for hit in self.matches],
            "candidates": [hit.as_dict() for hit in self.candidates],
            "face": self.face,
        }


@dataclass
class SearchReport:
    """Every face searched in one photo (``chosen``: the face the face policy picks,
    whose result is also given at the top level), kept for voting as ``search_id``."""

    search_id: str
    results: list[SearchResult]
    chosen: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    width: int = 0  # of the upright image the boxes are in
    height: int = 0

    @property
    def result(self) -> SearchResult:
        return self.results[self.chosen]

    def as_dict(self) -> dict:
        return {
            **self.result.as_dict(),
            "search_id": self.search_id,
            "chosen_face": self.chosen,
            "width": self.width,
            "height": self.height,
            "faces": [r.as_dict() for r in self.results],
        }
