"""FaceEngine: detection, alignment, embedding and comparison in one object.

The API, the evaluation harness and the library all go through this class; it is
built once per process (``FaceEngine.from_settings``)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from likeness.engine.detector import FaceDetector
from likeness.engine.liveness import LivenessModel
from likeness.engine.modelpack import (
    LIVENESS_FILES,
    ResolvedFile,
    resolve_liveness,
    resolve_pack,
)
from likeness.engine.recognizer import FaceRecognizer
from likeness.engine.runtime import choose_providers, create_session
from likeness.engine.types import Comparison, DetectedFace, FaceEmbedding
from likeness.errors import MultipleFacesError, NoFaceError, ValidationError
from likeness.settings import FacePolicy, Settings

log = logging.getLogger(__name__)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def choose_face(faces: list[DetectedFace], width: int, height: int, policy: FacePolicy) -> int:
    """Index of the face to use for 1:1 work under ``policy``."""
    if not faces:
        raise NoFaceError()
    policy = FacePolicy(policy)
    if len(faces) == 1:
        return 0
    if policy is FacePolicy.REJECT:
        raise MultipleFacesError(
            f"{len(faces)} faces were found; send an image with exactly one face."
        )
    if policy is FacePolicy.LARGEST:
        return int(np.argmax([f.area for f in faces]))
    cx, cy = width / 2.0, height / 2.0
    return int(np.argmin([(f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2 for f in faces]))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (unit vectors give the dot product)."""
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


class FaceEngine:
    """Loads a model pack's detector and recogniser once and serves every request."""

    def __init__(self, settings: Settings, recognizer: ResolvedFile | None = None) -> None:
        """``recognizer``: a registered version of the pack's recogniser (the model
        registry resolves and verifies it) instead of the official file."""
        self.settings = settings
        det_file, official = resolve_pack(
            settings.model_root, settings.model_pack, settings.verify_model_hashes
        )
        rec_file = recognizer or official
        self.files: tuple[ResolvedFile, ResolvedFile] = (det_file, rec_file)
        #: the official recogniser this version descends from (the face checks'
        #: models were built for it)
        self.family = official.spec.sha256
        self.providers = choose_providers(settings.providers)
        threads = settings.session_threads
        start = time.perf_counter()
        self.detector = FaceDetector(
            create_session(det_file.path, self.providers, threads, settings.ort_spinning),
            str(det_file.path),
            det_threshold=settings.det_threshold,
            nms_threshold=settings.nms_threshold,
            min_size=settings.det_min_size,
            max_size=settings.det_max_size,
            max_faces=settings.max_faces,
        )
        self.recognizer = FaceRecognizer(
            create_session(rec_file.path, self.providers, threads, settings.ort_spinning),
            str(rec_file.path),
            flip=settings.flip_tta,
        )
        self.load_ms = _ms(start)
        self.threads = threads
        self._warm = threading.Event()
        self._liveness: LivenessModel | None = None
        self._liveness_lock = threading.Lock()
        log.info(
            "engine loaded",
            extra={
                "pack": settings.model_pack,
                "providers": self.providers,
                "threads": threads,
                "load_ms": round(self.load_ms, 1),
            },
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> FaceEngine:
        from likeness.settings import get_settings

        return cls(settings or get_settings())

    # -- core operations -------------------------------------------------------
    @property
    def version(self) -> str:
        """The recogniser's SHA-256: what every stored embedding records."""
        return self.files[1].sha256

    @property
    def threshold(self) -> float:
        return self.settings.threshold

    def warm_up(self) -> None:
        """Run both models once so the first request doesn't pay for graph setup."""
        image = np.full((256, 256, 3), 127, np.uint8)
        self.detector.detect(image)
        self.recognizer.embed_crops([np.zeros((112, 112, 3), np.uint8)])
        self._warm.set()

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Every face in a BGR image: box, 5 landmarks, score (highest first)."""
        return self.detector.detect(image)

    def align(self, image: np.ndarray, face: DetectedFace) -> np.ndarray:
        return self.recognizer.align(image, face.landmarks)

    def embed_faces(self, image: np.ndarray, faces: list[DetectedFace], flip: bool | None = None):
        """Embeddings and raw norms of several faces of one image, in one batch."""
        crops = [self.align(image, f) for f in faces]
        return self.recognizer.embed_crops(crops, flip)

    def embed_aligned(self, crops: list[np.ndarray], flip: bool | None = None):
        """Embeddings of crops that are already aligned (e.g. InsightFace ``.bin`` sets)."""
        return self.recognizer.embed_crops(crops, flip)

    def embed(
        self,
        image: np.ndarray,
        policy: FacePolicy | str | None = None,
        faces: list[DetectedFace] | None = None,
        flip: bool | None = None,
        index: int | None = None,
    ) -> FaceEmbedding:
        """Detect (unless ``faces`` is given), choose one face by policy (or take the
        ``index``-th detected face, as an earlier answer listed them), embed it."""
        height, width = image.shape[:2]
        timings: dict[str, float] = {}
        if faces is None:
            start = time.perf_counter()
            faces = self.detect(image)
            timings["detect"] = _ms(start)
        if index is None:
            policy = FacePolicy(policy or self.settings.face_policy)
            index = choose_face(faces, width, height, policy)
        elif not faces:
            raise NoFaceError()
        elif not 0 <= index < len(faces):
            raise ValidationError(
                f"There is no face {index}: {len(faces)} were found (numbered from 0)."
            )
        start = time.perf_counter()
        crop = self.align(image, faces[index])
        unit, norms = self.recognizer.embed_crops([crop], flip)
        timings["embed"] = _ms(start)
        return FaceEmbedding(faces, index, unit[0], float(norms[0]), (width, height), timings, crop)

    def compare(
        self,
        a: np.ndarray | FaceEmbedding,
        b: np.ndarray | FaceEmbedding,
        threshold: float | None = None,
    ) -> Comparison:
        """Cosine similarity and the decision against ``threshold`` (default: the
        settings' threshold of the pack; the service passes the one in force)."""
        va = a.embedding if isinstance(a, FaceEmbedding) else a
        vb = b.embedding if isinstance(b, FaceEmbedding) else b
        similarity = cosine(va, vb)
        limit = self.threshold if threshold is None else float(threshold)
        return Comparison(similarity, limit, similarity >= limit)

    # -- liveness ----------------------------------------------------------------
    def liveness(self) -> LivenessModel:
        """The anti-spoofing models, loaded on first use (``ModelFilesMissingError``
        with the expected files when they are not under the model root)."""
        with self._liveness_lock:
            if self._liveness is None:
                files = resolve_liveness(
                    self.settings.model_root, self.settings.verify_model_hashes
                )
                sessions = [
                    (
                        scale,
                        create_session(
                            f.path, self.providers, self.threads, self.settings.ort_spinning
                        ),
                    )
                    for (scale, _), f in zip(LIVENESS_FILES, files, strict=True)
                ]
                self._liveness = LivenessModel(sessions, self.settings.liveness_threshold)
            return self._liveness

    # -- description -----------------------------------------------------------
    def embedding_settings(self) -> dict:
        """Everything that can change which face is found or the embedding it gets:
        a cache of embeddings must be keyed by all of it."""
        detector = self.detector
        return {
            "detector_sha256": self.files[0].sha256,
            "recognizer_sha256": self.files[1].sha256,
            "det_threshold": float(detector.model.det_thresh),
            "nms_threshold": float(detector.model.nms_thresh),
            "det_min_size": detector.min_size,
            "det_max_size": detector.max_size,
            "max_faces": detector.max_faces,
            "flip_tta": bool(self.recognizer.flip),
            "crop_size": self.recognizer.crop_size,
        }

    def info(self, public: bool = False) -> dict:
        """What runs; ``public`` (HTTP answers) leaves out server paths."""
        files = [f.as_dict() for f in self.files]
        if public:
            for entry in files:
                entry.pop("path", None)
        info = {
            "pack": self.settings.model_pack,
            "model_root": str(Path(self.settings.model_root)),
            "files": files,
            "threshold": self.threshold,
            "search_threshold": self.settings.gallery_threshold,
            "providers": self.providers,
            "available_providers": ort.get_available_providers(),
            "onnxruntime_version": ort.__version__,
            "intra_op_threads": self.threads,
            "embedding_dim": self.recognizer.dim,
            "flip_tta": self.recognizer.flip,
            "face_policy": FacePolicy(self.settings.face_policy).value,
            "detector_input": {
                "min_size": self.detector.min_size,
                "max_size": self.detector.max_size,
            },
            "load_ms": round(self.load_ms, 1),
        }
        if public:
            info.pop("model_root")
        return info
