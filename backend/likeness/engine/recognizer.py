"""Face recognition with insightface's ArcFace ONNX model: 5-point alignment to a
112x112 crop, batched embedding, optional flip test-time augmentation."""

from __future__ import annotations

import cv2
import numpy as np
from insightface.model_zoo.arcface_onnx import ArcFaceONNX
from insightface.utils.face_align import arcface_dst
from skimage.transform import SimilarityTransform

BATCH = 32


class FaceRecognizer:
    """``embed_crops(crops) -> (unit embeddings, raw norms)``."""

    def __init__(self, session, model_file: str, *, flip: bool = False) -> None:
        self.model = ArcFaceONNX(model_file=model_file, session=session)
        self.flip = flip
        self.crop_size = int(self.model.input_size[0])
        batch_dim = self.model.input_shape[0]
        self.max_batch = BATCH if not isinstance(batch_dim, int) else max(1, batch_dim)

    @property
    def dim(self) -> int:
        return int(self.model.output_shape[-1])

    def align(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Standard ArcFace crop: the least-squares similarity transform (Umeyama) of
        the 5 landmarks onto insightface's reference points, as ``face_align.norm_crop``."""
        ratio = self.crop_size / 112.0
        tform = SimilarityTransform.from_estimate(landmarks, arcface_dst * ratio)
        if not tform:  # degenerate landmarks (all in one point): plain resize of the box
            tform = SimilarityTransform(scale=ratio)
        matrix = tform.params[0:2, :]
        return cv2.warpAffine(image, matrix, (self.crop_size, self.crop_size), borderValue=0.0)

    def _raw(self, crops: list[np.ndarray]) -> np.ndarray:
        out = []
        for start in range(0, len(crops), self.max_batch):
            out.append(self.model.get_feat(crops[start : start + self.max_batch]))
        return np.concatenate(out, axis=0).astype(np.float32)

    def embed_crops(self, crops: list[np.ndarray], flip: bool | None = None):
        """Embeddings of aligned crops. With flip, the embedding is the sum of the
        crop's and its mirror's; the raw norm is always that of the plain crop."""
        if not crops:
            return np.zeros((0, self.dim), np.float32), np.zeros((0,), np.float32)
        flip = self.flip if flip is None else flip
        batch = list(crops)
        if flip:
            batch += [np.ascontiguousarray(c[:, ::-1]) for c in crops]
        raw = self._raw(batch)
        plain = raw[: len(crops)]
        norms = np.linalg.norm(plain, axis=1)
        feats = plain + raw[len(crops) :] if flip else plain
        unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        return unit.astype(np.float32), norms.astype(np.float32)


def open_recognizer(
    path, providers: list[str] | None = None, threads: int = 0, *, flip: bool = False
) -> FaceRecognizer:
    """A recogniser straight from an ONNX file (training's parity checks, the model
    registry's re-embedding); hashes are the caller's business."""
    from likeness.engine.runtime import choose_providers, create_session

    session = create_session(path, choose_providers(providers), threads, spinning=False)
    return FaceRecognizer(session, str(path), flip=flip)
