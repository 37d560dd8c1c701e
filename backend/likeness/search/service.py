"""Searching a photo: the face the face policy picks, or every face (a group photo
gives one result list per face); the query embeddings are kept for voting."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from likeness.engine import FaceEngine, choose_face
from likeness.errors import ValidationError
from likeness.gallery.faces import ALL, ImageSource, prepare
from likeness.gallery.gallery import Gallery, Hit
from likeness.imaging import ImageLimits
from likeness.learning.templates import Templates
from likeness.quality import FaceGate
from likeness.search.results import SearchReport, SearchResult
from likeness.settings import FacePolicy
from likeness.storage.search_feedback import SearchRecords
from likeness.verification import embed_source

#: ``search_embedding(vector, top_k, threshold) -> SearchResult``
SearchEmbedding = Callable[[np.ndarray, int, float | None], SearchResult]


def _with_confirmed_faces(gallery, templates, hits, vector, top_k, threshold) -> list[Hit]:
    """Each person scored by its best face or its best confirmed face; persons whose
    confirmed faces match better than the faces found join the list."""
    learned = templates.best_scores([h.person_id for h in hits if h.person_id], vector)
    for hit in hits:
        if hit.person_id in learned:
            hit.exemplar_score = learned[hit.person_id]
            hit.score = max(hit.score, hit.exemplar_score)
    listed = {h.person_id for h in hits if h.person_id is not None}
    extra = [found for found in templates.search(vector, top_k) if found[0] not in listed]
    shown = gallery.store.describe_faces([face for _, _, face in extra])
    for _, score, face in extra:
        if face in shown:  # else erased since
            hits.append(Hit.showing(shown[face], score, threshold, exemplar_score=score))
    hits.sort(key=lambda h: h.score, reverse=True)
    return hits[:top_k]


def search_vector(
    gallery: Gallery,
    templates: Templates | None,
    vector: np.ndarray,
    top_k: int,
    threshold: float,
) -> SearchResult:
    """The ``top_k`` best persons for a unit embedding: each by its best gallery face,
    or by its best confirmed face when that scores higher (``templates``)."""
    if top_k < 1:
        raise ValidationError("top_k must be at least 1.", field="top_k")
    vector = np.asarray(vector, np.float32).reshape(-1)
    if vector.shape[0] != gallery.config.dim:
        raise ValidationError(
            f"The vector has {vector.shape[0]} values; the gallery's have {gallery.config.dim}.",
            field="vector",
        )
    vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
    start = time.perf_counter()
    hits = gallery.search(vector, top_k, threshold)
    if templates is not None:
        hits = _with_confirmed_faces(gallery, templates, hits, vector, top_k, threshold)
    result = SearchResult(
        hits, threshold, timings_ms={"search": (time.perf_counter() - start) * 1000}
    )
    if result.identity is not None and result.identity.person_id is not None:
        gallery.store.touch_persons([result.identity.person_id])  # seen: retention
    return result


def search_photo(
    engine: FaceEngine,
    search_embedding: SearchEmbedding,
    records: SearchRecords,
    image: ImageSource,
    top_k: int = 5,
    threshold: float | None = None,
    every_face: bool = False,
    limits: ImageLimits | None = None,
    gate: FaceGate | None = None,
) -> SearchReport:
    """Search the face chosen by the face policy, or with ``every_face`` each face
    (the top-level answer is then the largest's, or the policy's choice). With a
    ``gate``, each searched face is checked and the verdicts kept with the search
    (votes on refused faces never become training data)."""
    started = time.perf_counter()
    if every_face:
        item = prepare(engine, image, ALL, limits)
        if item.error is not None:
            raise item.error
        vectors, norms = engine.embed_aligned(item.crops)
        faces, crops = item.faces, item.crops
        policy = FacePolicy(engine.settings.face_policy)
        if policy is FacePolicy.REJECT:  # several faces are the point here
            policy = FacePolicy.LARGEST
        chosen = choose_face(faces, item.width, item.height, policy)
        size = (item.width, item.height)
        timings = {"faces": (time.perf_counter() - started) * 1000}
    else:
        embedded = embed_source(engine, image, limits=limits)
        vectors, faces, chosen = embedded.embedding[None, :], [embedded.face], 0
        norms, crops = [embedded.norm], [embedded.crop]
        size = embedded.image_size
        timings = dict(embedded.timings_ms)
    results = []
    for vector, face in zip(vectors, faces, strict=True):
        result = search_embedding(vector, top_k, threshold)
        result.face = face.as_dict()
        results.append(result)
    timings["search"] = sum(r.timings_ms.get("search", 0.0) for r in results)
    shown = [
        [{"person_id": h.person_id, "face_id": h.face_id, "score": h.score} for h in r.candidates]
        for r in results
    ]
    refusals, start = None, time.perf_counter()
    if gate is not None:  # bulk: a small face of a group photo is not refused for it
        refusals = [
            gate.check(face, crop, vector, float(norm), size, bulk=True).reasons
            for face, crop, vector, norm in zip(faces, crops, vectors, norms, strict=True)
        ]
        timings["checks"] = (time.perf_counter() - start) * 1000
    search_id = records.record(
        np.asarray(vectors, np.float32), results[0].threshold, shown, refusals
    )
    return SearchReport(search_id, results, chosen, timings, *size)
