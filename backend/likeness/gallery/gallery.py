"""The gallery: the database (source of truth) plus the vector index derived from it,
kept in step.

Consistency rules:

* Every change of faces is one database transaction that also bumps
  ``gallery_state.generation``. Only after the commit is the in-memory index
  patched, and the index records the generation it now reflects.
* The index file stores that generation (and count / max id). On load, and before
  every search (one tiny query), the database generation is compared with the
  index's; if they differ (a crash between commit and save, or another process
  wrote), the index is reconciled with the database by id sets: missing faces are
  added from the stored embeddings, faces gone from the database are removed.
* Saving is atomic (temporary file + ``os.replace``). Removals are saved at once so
  erased embeddings do not linger in the file.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from likeness.errors import IndexNotFoundError
from likeness.gallery.index import IndexConfig, VectorIndex
from likeness.gallery.store import Change, FaceInfo, GalleryStore, NewImage

log = logging.getLogger(__name__)

INDEX_FILE = "gallery.faiss"


@dataclass
class Hit:
    """One ranked answer: a person (best face of that person), or an unlabelled face."""

    score: float
    face_id: int
    image_id: str
    source: str | None
    person_id: int | None
    person_name: str | None
    box: list[float]
    centroid_score: float | None
    face_count: int  # faces of this person among the candidates
    threshold: float
    image_metadata: dict | None = None

    @property
    def is_match(self) -> bool:
        return self.score >= self.threshold

    def as_dict(self) -> dict:
        return {
            "person_id": self.person_id,
            "name": self.person_name,
            "score": round(float(self.score), 6),
            "centroid_score": None
            if self.centroid_score is None
            else round(float(self.centroid_score), 6),
            "is_match": bool(self.is_match),
            "face_id": self.face_id,
            "image_id": self.image_id,
            "source": self.source,
            "box": self.box,
        }


class Gallery:
    """Thread-safe within a process; several processes may share one database."""

    def __init__(
        self,
        store: GalleryStore,
        config: IndexConfig,
        index_path: str | Path | None,
        autosave: bool = True,
    ) -> None:
        self.store = store
        self.config = config
        self.index_path = Path(index_path) if index_path else None
        self.autosave = autosave
        self._lock = threading.RLock()
        self.index = VectorIndex(config)
        self.index.meta = {"generation": -1}
        self.last_reconcile: dict | None = None
        self.store.ensure_state()

    # -- opening / persistence ---------------------------------------------------
    def open(self) -> Gallery:
        """Load the saved index if there is one (and reconcile it), else build from
        the database."""
        try:
            self.load()
        except IndexNotFoundError:
            self.rebuild()
        return self

    @property
    def generation(self) -> int:
        return int(self.index.meta.get("generation", -1))

    def load(self) -> dict:
        """Read the index file and bring it up to the database's state."""
        if self.index_path is None:
            raise IndexNotFoundError("This gallery has no index file.")
        with self._lock:
            loaded = VectorIndex.load(self.index_path, self.config)
            if loaded.config.dim != self.config.dim:
                loaded = VectorIndex(self.config)
            self.index = loaded
            report = self.sync(force=True)
            if report["added"] or report["removed"] or self.index.needs_rebuild:
                self._maybe_rebuild()
                self.save()
            return report

    def save(self) -> None:
        if self.index_path is None:
            return
        with self._lock:
            ids = self.index.ids()
            self.index.meta.update(
                count=len(ids),
                max_id=int(ids[-1]) if len(ids) else 0,
                saved_at=time.time(),
            )
            self.index.save(self.index_path)

    def rebuild(self) -> None:
        """A new index from every embedding in the database."""
        with self._lock:
            generation = self.store.generation()
            ids, vectors = self.store.embeddings()
            if vectors is None:
                index = VectorIndex(self.config)
            else:
                index = VectorIndex.build(self.config, ids, vectors)
            index.meta = {"generation": generation}
            self.index = index
            self.sync()  # writes that landed during the build
            self.save()

    def _maybe_rebuild(self) -> None:
        if self.index.needs_rebuild:
            started = time.perf_counter()
            self.index = self.index.rebuilt()
            log.info(
                "gallery index rebuilt",
                extra={
                    "kind": self.index.kind,
                    "faces": self.index.ntotal,
                    "seconds": round(time.perf_counter() - started, 2),
                },
            )

    # -- consistency --------------------------------------------------------------
    def sync(self, force: bool = False) -> dict:
        """Bring the index to the database's current state if the generations
        differ (or always with ``force``). Cheap when nothing changed."""
        with self._lock:
            generation = self.store.generation()  # read BEFORE the ids: conservative
            if not force and generation == self.generation:
                return {"added": 0, "removed": 0, "generation": generation}
            db_ids = self.store.face_ids()
            index_ids = self.index.ids()
            missing = np.setdiff1d(db_ids, index_ids, assume_unique=True)
            extra = np.setdiff1d(index_ids, db_ids, assume_unique=True)
            if len(extra):
                self.index.remove(extra)
            if len(missing):
                ids, vectors = self.store.embeddings(missing)
                if vectors is not None:
                    self.index.add(ids, vectors)
            self.index.meta["generation"] = generation
            report = {
                "added": int(len(missing)),
                "removed": int(len(extra)),
                "generation": generation,
            }
            if len(missing) or len(extra):
                log.info("gallery index reconciled with the database", extra=report)
            self.last_reconcile = report
            return report

    def apply(self, change: Change, save: bool | None = None) -> None:
        """Patch the index after a committed change."""
        with self._lock:
            if change.generation == self.generation + 1:
                if change.removed_ids:
                    self.index.remove(change.removed_ids)
                if change.added_ids:
                    self.index.add(change.added_ids, np.vstack(change.added_vectors))
                self.index.meta["generation"] = change.generation
            else:  # someone else wrote in between: reconcile by id sets
                self.sync(force=True)
            self._maybe_rebuild()
            wanted = self.autosave if save is None else save
            if wanted or change.removed_ids:  # erased embeddings must leave the file now
                self.save()

    # -- writes ------------------------------------------------------------------
    def add_images(self, images: list[NewImage], save: bool | None = None) -> list[list[int]]:
        change, per_image = self.store.add_images(images)
        self.apply(change, save)
        return per_image

    def remove_image(self, image_id: str) -> Change:
        change = self.store.remove_image(image_id)
        self.apply(change, save=True)
        return change

    def remove_person(self, person_id: int) -> Change:
        change = self.store.remove_person(person_id)
        self.apply(change, save=True)
        return change

    def clear(self) -> Change:
        change = self.store.clear()
        with self._lock:
            self.index = VectorIndex(self.config)
            self.index.meta = {"generation": change.generation}
            self.save()
        return change

    # -- search ------------------------------------------------------------------
    def search(
        self, vector: np.ndarray, top_k: int = 5, threshold: float = 0.0, sync: bool = True
    ) -> list[Hit]:
        """The ``top_k`` best persons (a person's score is its best face's cosine
        similarity); faces without a person rank on their own. Ranked, best first,
        threshold NOT applied (each hit says whether it passes)."""
        if sync:
            self.sync()
        query = np.asarray(vector, np.float32).reshape(1, -1)
        with self._lock:
            total = self.index.ntotal
            if total == 0:
                return []
            k = min(total, max(top_k * 4, top_k + 16))
            while True:
                scores, ids = self.index.search(query, k)
                pairs = [
                    (float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0
                ]
                faces = self.store.describe_faces([i for _, i in pairs])
                groups: dict[tuple, list[tuple[float, FaceInfo]]] = {}
                for score, face_id in pairs:
                    info = faces.get(face_id)
                    if info is None:  # removed by another process since the sync
                        continue
                    key = ("p", info.person_id) if info.person_id is not None else ("f", face_id)
                    groups.setdefault(key, []).append((score, info))
                if len(groups) >= top_k or k >= total:
                    break
                k = min(total, k * 4)
        person_ids = [key[1] for key in groups if key[0] == "p"]
        centroids = self.store.centroids(person_ids)
        hits = []
        for key, members in groups.items():
            score, info = max(members, key=lambda m: m[0])
            centroid = centroids.get(key[1]) if key[0] == "p" else None
            hits.append(
                Hit(
                    score=score,
                    face_id=info.face_id,
                    image_id=info.image_id,
                    source=info.source,
                    person_id=info.person_id,
                    person_name=info.person_name,
                    box=info.box,
                    centroid_score=None if centroid is None else float(np.dot(centroid, query[0])),
                    face_count=len(members),
                    threshold=threshold,
                    image_metadata=info.image_metadata,
                )
            )
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:top_k]

    def stats(self) -> dict:
        counts = self.store.counts()
        with self._lock:
            counts.update(
                index_kind=self.index.kind,
                index_faces=self.index.ntotal,
                generation=self.generation,
                index_path=str(self.index_path) if self.index_path else None,
            )
        return counts
