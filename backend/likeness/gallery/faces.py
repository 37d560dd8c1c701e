"""From an image source to faces ready for the gallery: read, hash, decode, detect,
choose, align. Embedding is left to the caller so it can be batched."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from likeness.engine import DetectedFace, FaceEngine, choose_face
from likeness.errors import ImageLoadError, LikenessError, MultipleFacesError, NoFaceError
from likeness.imaging import ImageLimits, decode_image, load_image
from likeness.settings import FacePolicy

ImageSource = str | Path | bytes | np.ndarray

#: How the faces of one image are used.
ALL = "all"  # every face (indexing a photo collection)
ONE = "one"  # one face chosen by the face policy (labelled bulk indexing)
STRICT = "strict"  # exactly one face, else rejected (enrolment)
LARGEST = "largest"  # the largest face, others ignored (enrolment of group photos)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


@dataclass
class PreparedImage:
    source: ImageSource
    content_hash: str
    width: int = 0
    height: int = 0
    faces: list[DetectedFace] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    error: LikenessError | None = None
    skipped: bool = False

    @property
    def label(self) -> str:
        if isinstance(self.source, (str, Path)):
            return str(self.source)
        return f"<{type(self.source).__name__} sha256 {self.content_hash[:12]}>"


def read_source(source: ImageSource) -> tuple[str, bytes | np.ndarray]:
    """(SHA-256 hex, raw bytes or the array) of an image source."""
    if isinstance(source, np.ndarray):
        digest = hashlib.sha256(str(source.shape).encode() + np.ascontiguousarray(source).tobytes())
        return digest.hexdigest(), source
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageLoadError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    return hashlib.sha256(data).hexdigest(), data


def hash_only(source: ImageSource) -> PreparedImage:
    try:
        digest, _ = read_source(source)
    except LikenessError as error:
        return PreparedImage(source, "", error=error)
    return PreparedImage(source, digest)


def prepare(
    engine: FaceEngine,
    source: ImageSource,
    mode: str = ALL,
    limits: ImageLimits | None = None,
    known: set[str] | None = None,
) -> PreparedImage:
    """Read, hash, decode, detect and align one image. Never raises a LikenessError:
    failures are returned in ``error`` (so a batch goes on)."""
    try:
        digest, raw = read_source(source)
    except LikenessError as error:
        return PreparedImage(source, "", error=error)
    prepared = PreparedImage(source, digest)
    if known is not None and digest in known:
        prepared.skipped = True
        return prepared
    try:
        if isinstance(raw, np.ndarray):
            image = load_image(raw)
        else:
            image = decode_image(raw, limits or ImageLimits(max_bytes=max(len(raw), 1)))
        prepared.height, prepared.width = image.shape[:2]
        faces = engine.detect(image)
        if not faces:
            raise NoFaceError("No face was found in the image.")
        if mode == STRICT and len(faces) > 1:
            raise MultipleFacesError(
                f"{len(faces)} faces were found; an enrolment photo must show exactly one "
                "face (or enrol with face_policy=largest to use the largest)."
            )
        if mode == LARGEST:
            faces = [faces[choose_face(faces, prepared.width, prepared.height, "largest")]]
        elif mode in (ONE, STRICT):
            policy = FacePolicy(engine.settings.face_policy)
            if policy is FacePolicy.REJECT and mode == ONE and len(faces) > 1:
                raise MultipleFacesError(f"{len(faces)} faces were found.")
            faces = [faces[choose_face(faces, prepared.width, prepared.height, policy)]]
        prepared.faces = faces
        prepared.crops = [engine.align(image, face) for face in faces]
    except LikenessError as error:
        prepared.error = error
    return prepared


def list_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (by suffix), sorted for a deterministic order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageLoadError(f"{folder} is not a directory.")
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in pattern if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
