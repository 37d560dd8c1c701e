"""The gallery: the database (source of truth) plus the vector index derived from it,
kept in step by the database's change log.

Consistency rules:

* Every change of faces is one database transaction that bumps
  ``gallery_state.generation`` and appends a row to ``gallery_changes`` (the face
  ids it added and removed, ``seq`` = the new generation). Ids are never reused.
* Every index records the generation it reflects (and the gallery's random
  ``instance`` id). Before every search (one tiny query) and before every save, a
  process that is behind replays the log from the generation it reflects: removals
  at once, additions read from the database. Replay is idempotent (an id already
  present is not added twice, an absent one is not removed), so a snapshot taken
  at any moment converges. A log that cannot bridge the gap (pruned, or a gap)
  means a full rebuild from the database.
* The index file is written by one process at a time, under a lock beside it,
  and only after bringing the index to the database's newest generation, so a
  stale process can never put an erased vector back. Saving is atomic (temporary
  file + ``os.replace``); a removal is saved before the call that made it returns.

Rebuilds (the gallery outgrew exact search, or too many removed faces linger in
the approximate index) run in a background thread: writes and searches go on
against the current index, which stays exact and complete; the new index is built
from a snapshot, brought up to date and swapped in. One build at a time per index
file across processes (a second lock file, so saves never wait for a build): a
process that waited for another's build loads that file instead of building again.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from likeness.errors import EmbeddingModelMismatchError, IndexNotFoundError, ValidationError
from likeness.gallery.index import IndexConfig, VectorIndex
from likeness.gallery.store import Change, FaceInfo, GalleryStore, NewImage

log = logging.getLogger(__name__)

INDEX_FILE = "gallery.faiss"


def display_name(source: str | None) -> str | None:
    """What answers show of where an image came from: its file name, never the
    server's folders."""
    if not source:
        return source
    return source.replace("\\", "/").rsplit("/", 1)[-1]


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
    #: the best of the faces users confirmed as this person (learned templates)
    exemplar_score: float | None = None

    @classmethod
    def showing(
        cls, info: FaceInfo, score: float, threshold: float, face_count: int = 0, **extra
    ) -> Hit:
        """A hit that shows ``info``'s face (its photo, box and person)."""
        return cls(
            score=score,
            face_id=info.face_id,
            image_id=info.image_id,
            source=info.source,
            person_id=info.person_id,
            person_name=info.person_name,
            box=info.box,
            centroid_score=extra.pop("centroid_score", None),
            face_count=face_count,
            threshold=threshold,
            image_metadata=info.image_metadata,
            **extra,
        )

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
            "exemplar_score": None
            if self.exemplar_score is None
            else round(float(self.exemplar_score), 6),
            "is_match": bool(self.is_match),
            "face_id": self.face_id,
            "image_id": self.image_id,
            "source": display_name(self.source),
            "box": self.box,
        }


class _LogGap(Exception):
    """The change log cannot bring an index to the wanted generation."""


class Gallery:
    """Thread-safe within a process; several processes may share one database."""

    def __init__(
        self,
        store: GalleryStore,
        config: IndexConfig,
        index_path: str | Path | None,
        autosave: bool = True,
        background: bool = True,
        writer_only: bool = False,
    ) -> None:
        self.store = store
        #: a process that only writes (a Celery worker): no index at all
        self.writer_only = writer_only
        self.config = config
        self.index_path = Path(index_path) if index_path else None
        self.autosave = autosave
        self.background = background  # False: rebuild inside the call that needs it
        self._lock = threading.RLock()
        #: called with the gallery's version when it is not the store's (the library
        #: loads that version; see ``sync``)
        self.on_model_change: Callable[[str], object] | None = None
        self._builder: threading.Thread | None = None
        self._epoch = 0  # bumped whenever the index is replaced other than by a build
        self.last_build: dict | None = None
        self.last_reconcile: dict | None = None
        self.store.ensure_state()
        self.instance = self.store.instance()
        self.index = self._empty(-1)

    def _empty(
        self, generation: int, kind: str | None = None, tag: str | None = None
    ) -> VectorIndex:
        index = VectorIndex(self.config, kind)
        index.meta = {"generation": generation, "tag": tag, "instance": self.instance}
        return index

    # -- opening / persistence ---------------------------------------------------
    def open(self) -> Gallery:
        """Load the saved index if there is a usable one (and bring it up to date),
        else build from the database. A writer-only gallery holds no index."""
        if self.writer_only:
            return self
        try:
            self.load()
        except IndexNotFoundError:
            self.rebuild()
        return self

    @property
    def generation(self) -> int:
        return int(self.index.meta.get("generation", -1))

    @property
    def tag(self) -> str | None:
        return self.index.meta.get("tag")

    def _read_file(self) -> VectorIndex:
        """The saved index, if it is this gallery's and fits the config."""
        if self.index_path is None:
            raise IndexNotFoundError("This gallery has no index file.")
        loaded = VectorIndex.load(self.index_path, self.config)
        if loaded.meta.get("instance") != self.instance:
            raise IndexNotFoundError(f"{self.index_path} belongs to another gallery.")
        return loaded

    def load(self) -> dict:
        """Read the index file and bring it up to the database's state."""
        with self._lock:
            self.index = self._read_file()
            self._epoch += 1
            report = self._sync_locked(force=True)
            if report["added"] or report["removed"] or self.index.needs_rebuild:
                self.save()
                self._maybe_rebuild()
            return report

    def save(self) -> None:
        """Write the index file: under the cross-process lock, after catching up with
        the database, so no process ever writes an older state over a newer one."""
        if self.index_path is None:
            return
        with self._lock, self._file_lock("lock"):
            self._sync_locked()  # now at the database's newest generation
            on_disk = VectorIndex.read_meta(self.index_path)
            if on_disk is not None and int(on_disk.get("generation", -1)) > self.generation:
                # only a database restored to an older state can leave such a file
                log.warning("index file ahead of the database (restored?); replaced")
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
            self.index = self._from_database(exact_first=self.background)
            self._epoch += 1
            self._sync_locked(force=True)  # writes that landed during the read
            self.save()
            self._maybe_rebuild()

    def _from_database(self, exact_first: bool) -> VectorIndex:
        """Every face in the database; the generation is read FIRST, so replaying the
        log from it afterwards (idempotent) covers whatever landed during the read."""
        position = self.store.position()
        ids, vectors = self.store.embeddings()
        if vectors is not None and not exact_first:
            index = VectorIndex.build(self.config, ids, vectors)
        else:
            index = VectorIndex(self.config, "flat")
            if vectors is not None:
                index.add(ids, vectors)
        index.meta = {
            "generation": position.generation,
            "tag": position.tag,
            "instance": self.instance,
        }
        return index

    def _maybe_rebuild(self) -> None:
        """Start a rebuild if the index needs one."""
        with self._lock:
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
    def _file_lock(self, suffix: str, blocking: bool = True):
        """Exclusive across processes for one index file; yields False when not
        ``blocking`` and another process holds it (no file: always True)."""
        if self.index_path is None:
            yield True
            return
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        path = self.index_path.with_name(f"{self.index_path.name}.{suffix}")
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build(self, epoch: int) -> None:
        """Build a fresh index of the right kind without holding the lock, then
        swap it in. Runs in the builder thread (or inline without ``background``,
        where a build already running in another process is not waited for: this
        one is retried on a later write)."""
        started = time.perf_counter()
        try:
            with self._file_lock("build.lock", blocking=self.background) as mine:
                if not mine:
                    return
                with self._lock:
                    if epoch != self._epoch or not self.index.needs_rebuild:
                        return
                    count = self.index.ntotal
                fresh, source = self._saved_if_fit(count), "file"
                if fresh is None:
                    with self._lock:
                        ids, vectors = self.index.vectors()  # a snapshot (copies)
                        meta = dict(self.index.meta)
                    fresh, source = VectorIndex.build(self.config, ids, vectors), "built"
                    fresh.meta = meta
                with self._lock:
                    if epoch != self._epoch:
                        return  # cleared or reloaded meanwhile: the build is stale
                    self._sync_locked()
                    if not self._bring_to(fresh, self.generation):
                        return  # the log cannot bridge it: retried on a later write
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
        try:
            saved = self._read_file()
        except (IndexNotFoundError, OSError, ValueError):
            return None
        if saved.kind != saved.kind_for(count) or saved.needs_rebuild:
            return None
        return saved

    # -- consistency --------------------------------------------------------------
    def sync(self, force: bool = False) -> dict:
        """Bring the index to the database's newest generation (cheap when nothing
        changed); start a rebuild if the index then needs one. When the gallery
        switched model version, ``on_model_change(version)`` may load that version
        first (outside the index lock)."""
        if self.writer_only:  # nothing to bring up to date
            return {"added": 0, "removed": 0, "generation": -1, "writer_only": True}
        if self.on_model_change is not None:
            version = self.store.position().model_version
            if version and self.store.model_version and version != self.store.model_version:
                self.on_model_change(version)
        with self._lock:
            report = self._sync_locked(force)
        if report["added"] or report["removed"]:
            self._maybe_rebuild()
        return report

    def _sync_locked(self, force: bool = False) -> dict:
        with self._lock:
            position = self.store.position()
            self.store.check_version(position.model_version)
            same = position.generation == self.generation
            if not force and same and position.tag == self.tag:
                return {"added": 0, "removed": 0, "generation": position.generation}
            try:
                if position.generation < self.generation or (same and position.tag != self.tag):
                    # another history than the index followed (a restored backup, say)
                    raise _LogGap(f"the database is at {position}, the index elsewhere")
                report = self._replay(self.index)
            except _LogGap as gap:
                log.info("gallery index rebuilt from the database", extra={"why": str(gap)})
                before = self.index.ids()
                self.index = self._from_database(exact_first=True)
                self._epoch += 1
                report = self._replay(self.index)
                after = self.index.ids()
                report["added"] = int(len(np.setdiff1d(after, before)))
                report["removed"] = int(len(np.setdiff1d(before, after)))
            # vectors were read after the version was: a switch committed meanwhile
            # may have given new ones to this process's old model; never serve them
            after = self.store.position().model_version
            if after and self.store.model_version and after != self.store.model_version:
                self.index = self._empty(-1)
                self._epoch += 1
                self.store.check_version(after)
            if report["added"] or report["removed"]:
                log.info("gallery index caught up with the database", extra=report)
            self.last_reconcile = report
            return report

    def _replay(self, index: VectorIndex, target: int | None = None) -> dict:
        """Apply the change log to ``index`` from the generation it reflects up to
        ``target`` (default: the newest). Raises ``_LogGap`` if the log cannot."""
        current, tag = int(index.meta.get("generation", -1)), index.meta.get("tag")
        if current < 0:
            raise _LogGap("the index reflects no generation")
        pending: set[int] = set()
        removed = 0
        first = True
        while target is None or current < target:
            # from the index's own entry on: its token must be the one the index saw
            entries = self.store.changes_since(current - 1 if first else current)
            if first and entries and entries[0].seq == current:
                if entries[0].tag != tag:
                    raise _LogGap(f"change {current} is not the one the index followed")
                entries = entries[1:]
            first = False
            if target is not None:
                entries = [entry for entry in entries if entry.seq <= target]
            if not entries:
                break
            for entry in entries:
                if entry.seq != current + 1:
                    raise _LogGap(f"the change log has no entry {current + 1}")
                if entry.model_version is not None:
                    # every vector changed: rebuild (``_sync_locked`` then checks the
                    # version the gallery ends at against this process's)
                    raise _LogGap(f"the gallery switched model at change {entry.seq}")
                if entry.cleared:
                    removed += index.ntotal
                    index.reset("flat")
                    pending.clear()
                if len(entry.removed):
                    removed += index.remove(entry.removed)
                    pending.difference_update(entry.removed.tolist())
                pending.update(entry.added.tolist())
                current, tag = entry.seq, entry.tag
        if target is not None and current != target:
            raise _LogGap(f"the change log ends at {current}, not {target}")
        added = 0
        if pending:
            wanted = np.fromiter(pending, np.int64, len(pending))
            wanted = wanted[~index.contains(wanted)]  # idempotent: never twice
            if len(wanted):
                ids, vectors = self.store.embeddings(wanted)
                if vectors is not None:
                    index.add(ids, vectors)
                    added = len(ids)
        index.meta.update(generation=current, tag=tag, instance=self.instance)
        return {"added": int(added), "removed": int(removed), "generation": current}

    def _bring_to(self, fresh: VectorIndex, generation: int) -> bool:
        """Bring a built or loaded index to ``generation`` (caller holds the lock)."""
        if int(fresh.meta.get("generation", -1)) > generation:
            return False
        try:
            self._replay(fresh, generation)
        except (_LogGap, EmbeddingModelMismatchError):
            return False
        return True

    def apply(self, change: Change, save: bool | None = None) -> None:
        """Patch the index after a committed change: directly when it is the next
        generation, else by replaying the log (another thread or process wrote)."""
        if self.writer_only:  # the processes that search replay the change log
            return
        with self._lock:
            direct = change.generation == self.generation + 1
            if direct and change.previous_tag == self.tag:
                if change.removed_ids:
                    self.index.remove(change.removed_ids)
                if change.added_ids:
                    self.index.add(change.added_ids, np.vstack(change.added_vectors))
                self.index.meta.update(generation=change.generation, tag=change.tag)
            try:
                if change.generation > self.generation:
                    self._sync_locked(force=True)
                wanted = self.autosave if save is None else save
                if wanted or change.removed_ids:  # erased embeddings must leave the file now
                    self.save()
            except EmbeddingModelMismatchError:
                # the write is committed; the gallery switched model meanwhile, so
                # the index is brought up to date once this process follows. An
                # erased face must not stay in the file meanwhile: drop the file
                # (any process rebuilds it from the database)
                if change.removed_ids and self.index_path is not None:
                    with self._file_lock("lock"):
                        self.index_path.unlink(missing_ok=True)
                log.info("gallery switched model after a write; index left for the next call")
                return
        self._maybe_rebuild()

    # -- writes ------------------------------------------------------------------
    def add_images(
        self,
        images: list[NewImage],
        save: bool | None = None,
        new_person: tuple[str, dict | None] | None = None,
    ) -> list[list[int]]:
        for image in images:
            for face in image.faces:
                if np.asarray(face.embedding).reshape(-1).shape[0] != self.config.dim:
                    raise ValidationError(
                        f"An embedding has {np.asarray(face.embedding).size} values; this "
                        f"gallery's have {self.config.dim}."
                    )
        change, per_image = self.store.add_images(images, new_person)
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
            if change.generation > self.generation:
                self.index = self._empty(change.generation, tag=change.tag)
                self._epoch += 1
            self.save()
        return change

    # -- search ------------------------------------------------------------------
    def neighbours(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, face ids) of the ``k`` nearest indexed faces of each vector, one
        batch (-1 ids where there are fewer)."""
        self.sync()
        query = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        with self._lock:
            if self.index.ntotal == 0 or len(query) == 0:
                return np.zeros((len(query), 0), np.float32), np.zeros((len(query), 0), np.int64)
            return self.index.search(query, min(k, self.index.ntotal))

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
            similar = None if centroid is None else float(np.dot(centroid, query[0]))
            hits.append(Hit.showing(info, score, threshold, len(members), centroid_score=similar))
        hits.sort(key=lambda h: h.score, reverse=True)
        # templates (centroids) were read after the index: all of one version still?
        self.store.check_version(self.store.position().model_version)
        return hits[:top_k]

    def stats(self) -> dict:
        self.sync()
        counts = self.store.counts()
        with self._lock:
            counts.update(
                index_kind=self.index.kind,
                index_faces=self.index.ntotal,
                generation=self.generation,
            )
        return counts
