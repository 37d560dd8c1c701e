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

Rebuilds (the gallery outgrew exact search, or too many removed faces linger in
the approximate index) run in a background thread: writes and searches go on
against the current index, which stays exact and complete; the new index is built
from a snapshot, brought up to date by id sets and swapped in. One build at a time
per index file across processes (an ``flock`` beside it): a process that waited
for another's build loads that file instead of building again.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from contextlib import contextmanager
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
        background: bool = True,
    ) -> None:
        self.store = store
        self.config = config
        self.index_path = Path(index_path) if index_path else None
        self.autosave = autosave
        self.background = background  # False: rebuild inside the call that needs it
        self._lock = threading.RLock()
        self._builder: threading.Thread | None = None
        self._epoch = 0  # bumped whenever the index is replaced other than by a build
        self.last_build: dict | None = None
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
            self._epoch += 1
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
        """A new index from every embedding in the database. With ``background``,
        a gallery beyond exact search first gets an exact index (a copy: fast) and
        the approximate one is built in the background."""
        with self._lock:
            generation = self.store.generation()
            ids, vectors = self.store.embeddings()
            if vectors is None:
                index = VectorIndex(self.config)
            elif self.background:
                index = VectorIndex(self.config, "flat")
                index.add(ids, vectors)
            else:
                index = VectorIndex.build(self.config, ids, vectors)
            index.meta = {"generation": generation}
            self.index = index
            self._epoch += 1
            self.sync()  # writes that landed during the build
            self.save()
            self._maybe_rebuild()

    def _maybe_rebuild(self) -> None:
        """Start a rebuild if the index needs one (caller holds the lock)."""
        if not self.index.needs_rebuild:
            return
        if not self.background:
            self._build(self._epoch)
            return
        if self._builder is not None and self._builder.is_alive():
            return  # the running build will be brought up to date when it lands
        self._builder = threading.Thread(
            target=self._build, args=(self._epoch,), name="likeness-index-build", daemon=True
        )
        self._builder.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running background rebuild; True when none is running."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)
            return not builder.is_alive()
        return True

    @contextmanager
    def _build_lock(self):
        """Exclusive across processes for one index file (no file: no lock)."""
        if self.index_path is None:
            yield
            return
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.index_path.with_name(self.index_path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build(self, epoch: int) -> None:
        """Build a fresh index of the right kind without holding the lock, then
        swap it in. Runs in the builder thread (or inline without ``background``)."""
        started = time.perf_counter()
        try:
            with self._build_lock():
                with self._lock:
                    if epoch != self._epoch or not self.index.needs_rebuild:
                        return
                    count = self.index.ntotal
                fresh, source = self._saved_if_fit(count), "file"
                if fresh is None:
                    with self._lock:
                        ids, vectors = self.index.vectors()  # a snapshot (copies)
                    fresh, source = VectorIndex.build(self.config, ids, vectors), "built"
                with self._lock:
                    if epoch != self._epoch:
                        return  # cleared or reloaded meanwhile: the build is stale
                    self._catch_up(fresh)
                    self.index = fresh
                    self.save()
                    self.last_build = {
                        "kind": fresh.kind,
                        "faces": fresh.ntotal,
                        "source": source,
                        "seconds": round(time.perf_counter() - started, 3),
                    }
            log.info("gallery index rebuilt", extra=self.last_build)
        except Exception:  # a failed build leaves the current index serving; retried later
            log.exception("gallery index rebuild failed")

    def _saved_if_fit(self, count: int) -> VectorIndex | None:
        """The saved index, when another process has just built one that fits."""
        if self.index_path is None:
            return None
        try:
            saved = VectorIndex.load(self.index_path, self.config)
        except (IndexNotFoundError, OSError, ValueError):
            return None
        if saved.kind != saved.kind_for(count) or saved.needs_rebuild:
            return None
        return saved

    def _catch_up(self, fresh: VectorIndex) -> None:
        """Make ``fresh`` hold exactly the current index's faces (caller holds the
        lock): writes that landed while it was being built."""
        current, built = self.index.ids(), fresh.ids()
        extra = np.setdiff1d(built, current, assume_unique=True)
        missing = np.setdiff1d(current, built, assume_unique=True)
        if len(extra):
            fresh.remove(extra)
        if len(missing):
            ids, vectors = self.store.embeddings(missing)
            if vectors is not None:
                fresh.add(ids, vectors)
        fresh.meta = dict(self.index.meta)

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
                self._maybe_rebuild()
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
            self._epoch += 1
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
