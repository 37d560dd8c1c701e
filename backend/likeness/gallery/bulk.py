"""Bulk indexing: many files into the gallery, fast, resumable, failure-tolerant.

Per chunk of files: read + hash in a thread pool and skip content already indexed;
decode, detect and align in the thread pool (ONNX Runtime releases the GIL); embed
every face of the chunk in batches through the recogniser; commit the chunk in one
transaction and patch the index. A failing file is reported and the run goes on;
an interrupted run resumes where it stopped (done files are skipped by hash).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from likeness.engine import FaceEngine
from likeness.gallery.faces import ALL, ImageSource, PreparedImage, hash_only, prepare
from likeness.gallery.gallery import Gallery
from likeness.gallery.store import NewFace, NewImage
from likeness.imaging import ImageLimits, encode_crop
from likeness.quality import FaceGate


@dataclass
class Failure:
    source: str
    code: str
    message: str
    reason: str | None = None  # FACE_REJECTED: the face check that failed
    check: dict | None = None  # FACE_REJECTED: its scores

    def as_dict(self) -> dict:
        out = {"source": self.source, "code": self.code, "message": self.message}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.check is not None:
            out["check"] = self.check
        return out


@dataclass
class BulkReport:
    total: int = 0
    indexed: int = 0  # files added now
    faces: int = 0  # faces added now
    skipped: int = 0  # files already in the gallery (same content)
    failed: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    face_ids: dict[str, list[int]] = field(default_factory=dict)
    unusable: int = 0  # faces kept but failing a face check (never searched)
    reasons: dict[str, int] = field(default_factory=dict)  # failed checks, counted
    clustering: dict | None = None  # new faces joined to clusters (once clustered)

    @property
    def images_per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "indexed": self.indexed,
            "faces": self.faces,
            "skipped": self.skipped,
            "failed": [f.as_dict() for f in self.failed],
            "unusable_faces": self.unusable,
            "reasons": dict(sorted(self.reasons.items())),
            "clustering": self.clustering,
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
        }


#: ``on_progress(done, total, report)`` after each chunk.
Progress = Callable[[int, int, BulkReport], None]


class BulkIndexer:
    def __init__(
        self,
        engine: FaceEngine,
        gallery: Gallery,
        workers: int = 2,
        chunk: int = 64,
        mode: str = ALL,
        limits: ImageLimits | None = None,
        gate: FaceGate | None = None,
        keep_crops: bool = True,
    ) -> None:
        self.engine = engine
        self.keep_crops = keep_crops
        self.gate = gate
        self.gallery = gallery
        self.workers = max(1, workers)
        self.chunk = max(1, chunk)
        self.mode = mode
        self.limits = limits

    def run(
        self,
        sources: Sequence[ImageSource],
        person_ids: Sequence[int | None] | None = None,
        metadata: Sequence[dict | None] | None = None,
        on_progress: Progress | None = None,
        progress_bar: bool = False,
    ) -> BulkReport:
        report = BulkReport(total=len(sources))
        started = time.perf_counter()
        bar = None
        if progress_bar:
            from tqdm import tqdm

            bar = tqdm(total=len(sources), unit="img", desc="indexing")
        with ThreadPoolExecutor(self.workers, thread_name_prefix="likeness-bulk") as pool:
            for start in range(0, len(sources), self.chunk):
                stop = min(start + self.chunk, len(sources))
                self._chunk(pool, sources, person_ids, metadata, start, stop, report)
                report.seconds = time.perf_counter() - started
                if bar is not None:
                    bar.update(stop - start)
                    bar.set_postfix(faces=report.faces, failed=len(report.failed))
                if on_progress is not None:
                    on_progress(stop, len(sources), report)
        if bar is not None:
            bar.close()
        self.gallery.save()
        report.seconds = time.perf_counter() - started
        return report

    def _chunk(self, pool, sources, person_ids, metadata, start, stop, report) -> None:
        indices = list(range(start, stop))
        hashed = list(pool.map(lambda i: hash_only(sources[i]), indices))
        known = self.gallery.store.known_hashes([h.content_hash for h in hashed if h.content_hash])
        seen: set[str] = set()
        todo = []
        for i, item in zip(indices, hashed, strict=True):
            if item.error is not None:
                self._fail(report, item)
            elif item.content_hash in known or item.content_hash in seen:
                report.skipped += 1
            else:
                seen.add(item.content_hash)
                todo.append(i)
        prepared: list[PreparedImage] = list(
            pool.map(lambda i: prepare(self.engine, sources[i], self.mode, self.limits), todo)
        )
        good = []
        for i, item in zip(todo, prepared, strict=True):
            if item.error is not None:
                self._fail(report, item)
            else:
                good.append((i, item))
        crops = [crop for _, item in good for crop in item.crops]
        if not crops:
            return
        unit, norms = self.engine.embed_aligned(crops)
        new_images, offset = [], 0
        for i, item in good:
            n = len(item.faces)
            faces = []
            for j in range(n):
                face = NewFace(
                    unit[offset + j],
                    item.faces[j].box.tolist(),
                    item.faces[j].score,
                    float(norms[offset + j]),
                    crop=encode_crop(item.crops[j]) if self.keep_crops else None,
                )
                if self.gate is not None:
                    check = self.gate.check(
                        item.faces[j],
                        item.crops[j],
                        unit[offset + j],
                        face.norm,
                        (item.width, item.height),
                        bulk=True,
                    )
                    face.usable, face.checks = check.is_valid, check.as_dict()
                    if not check.is_valid:
                        report.unusable += 1
                        for reason in check.reasons:
                            report.reasons[reason] = report.reasons.get(reason, 0) + 1
                faces.append(face)
            offset += n
            new_images.append(
                NewImage(
                    content_hash=item.content_hash,
                    width=item.width,
                    height=item.height,
                    faces=faces,
                    source=item.label,
                    person_id=None if person_ids is None else person_ids[i],
                    metadata=None if metadata is None else metadata[i],
                    model_version=self.engine.version,
                )
            )
        per_image = self.gallery.add_images(new_images, save=False)
        for new, ids in zip(new_images, per_image, strict=True):
            report.face_ids[new.source] = ids
        report.indexed += len(new_images)
        report.faces += int(sum(len(ids) for ids in per_image))

    @staticmethod
    def _fail(report: BulkReport, item: PreparedImage) -> None:
        error = item.error
        report.failed.append(Failure(item.label, error.code, error.message))
