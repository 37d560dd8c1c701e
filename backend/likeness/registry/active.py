"""The model version this process serves, following the registry.

Every process (Gunicorn worker, CLI, library user) holds one ``ActiveModel``. It
re-reads the registry's active version at most every ``model_refresh_seconds``;
when another version became active it loads that version's engine *beside* the
running one, then swaps them. A request keeps the ``Loaded`` it took first
(engine, thresholds and face checks of one version), so nothing in flight fails.

Library calls that embed and then touch the gallery run under ``using()`` (many
at once); a swap waits for them to finish and holds new ones back only while it
exchanges references. A call that still meets a gallery of another version (the
switch committed in another process meanwhile) gets
``EmbeddingModelMismatchError``; ``follows_model`` then loads the new version
and runs the call once more."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from likeness.engine import FaceEngine
from likeness.errors import EmbeddingModelMismatchError, ModelError
from likeness.learning.thresholds import ThresholdBook
from likeness.quality import FaceGate
from likeness.registry.versions import ModelRegistry, ModelVersion
from likeness.settings import Settings
from likeness.storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    """One model version, ready: its engine, its thresholds, its face checks."""

    version: ModelVersion
    engine: FaceEngine
    thresholds: ThresholdBook
    gate: FaceGate


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer holds new readers back (so a
    swap is never starved). Readers re-enter freely within a thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0
        self._local = threading.local()

    @contextmanager
    def reading(self):
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            with self._cond:
                while self._writer or self._waiting:
                    self._cond.wait()
                self._readers += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                with self._cond:
                    self._readers -= 1
                    self._cond.notify_all()

    @contextmanager
    def writing(self):
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()

    @property
    def reader(self) -> bool:
        return getattr(self._local, "depth", 0) > 0


class ActiveModel:
    """This process's model version (``current``), kept in step with the registry."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        engine: FaceEngine | None = None,
        gate: FaceGate | None = None,
        thresholds: ThresholdBook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = ModelRegistry(db, settings)
        self.clock = clock
        self._lock = _ReadWriteLock()
        self._loading = threading.Lock()
        self._listeners: list[Callable[[Loaded], None]] = []
        active = self.registry.active()
        if engine is None or not _serves(engine, active):
            engine, gate, thresholds = self._engine_for(active), None, None
        self.current = self._load(active, engine, gate, thresholds)
        self._checked = clock()

    def _engine_for(self, version: ModelVersion) -> FaceEngine:
        engine = FaceEngine(self.settings, recognizer=self.registry.resolve(version))
        engine.warm_up()
        return engine

    def _load(self, version, engine, gate=None, thresholds=None) -> Loaded:
        pack = self.settings.model_pack
        return Loaded(
            version,
            engine,
            thresholds or ThresholdBook(self.db, self.settings, pack, engine.version),
            gate or FaceGate(engine, self.settings),
        )

    def on_swap(self, listener: Callable[[Loaded], None]) -> None:
        """Run ``listener(new)`` inside every swap (no call is using the model then)."""
        self._listeners.append(listener)

    @property
    def version(self) -> str:
        """What this process's embeddings record: its recogniser file's SHA-256."""
        return self.current.engine.version

    @contextmanager
    def using(self):
        """Hold the model steady for one call (many calls at once)."""
        with self._lock.reading():
            yield self.current

    def follow(self, force: bool = False) -> Loaded:
        """Load the registry's active version if it is not the one served (checked
        at most every ``model_refresh_seconds`` unless ``force``)."""
        now = self.clock()
        if not force and now - self._checked < self.settings.model_refresh_seconds:
            return self.current
        if self._lock.reader:  # inside a call: it finishes on the model it began with
            return self.current
        with self._loading:
            self._checked = self.clock()
            active = self.registry.active()
            if active.id == self.current.version.id:
                if active.status != self.current.version.status:
                    self.current = Loaded(active, *_rest(self.current))
                return self.current
            started = time.perf_counter()
            try:
                engine = self._engine_for(active)
            except ModelError as error:  # its file is missing or altered here: keep
                log.error(  # serving the version loaded (tried again next time)
                    "model version cannot be loaded",
                    extra={"version": active.id, "error": error.message.splitlines()[0]},
                )
                return self.current
            loaded = self._load(active, engine)
            with self._lock.writing():
                for listener in self._listeners:
                    listener(loaded)
                self.current = loaded
            log.info(
                "model version loaded",
                extra={
                    "version": active.id,
                    "sha256": active.sha256[:12],
                    "load_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return loaded


def _serves(engine: FaceEngine, version: ModelVersion) -> bool:
    """Does ``engine`` run ``version``'s file? (By the hash it was checked against:
    with hash checks off, the official file's real hash may differ.)"""
    return engine.files[1].spec.sha256 == version.sha256


def _rest(loaded: Loaded) -> tuple:
    return loaded.engine, loaded.thresholds, loaded.gate


def follows_model(method):
    """Run a library method on one steady model version; when the gallery turns out
    to hold another version (a switch committed elsewhere), load that version and
    run the method once more."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        model: ActiveModel = self.model
        if not model._lock.reader:
            model.follow()
        for attempt in (0, 1):
            outer = not model._lock.reader
            try:
                with model.using():
                    return method(self, *args, **kwargs)
            except EmbeddingModelMismatchError as error:
                served = model.version
                if attempt or not outer or error.gallery_version in (None, served):
                    raise
                model.follow(force=True)
                if model.version == served:
                    raise
        raise AssertionError("unreachable")

    return wrapper
