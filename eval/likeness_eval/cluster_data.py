"""Faces to cluster, with what they are: every face the detector finds in each
image (so background faces and photos of several people are there, as in a real
collection), embedded through the serving pipeline. The face nearest each image's
centre is labelled with the image's person; other faces are unlabelled (-1).
Cached on disk."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from likeness.engine import FaceEngine, choose_face
from likeness.imaging import load_image
from likeness.settings import FacePolicy
from tqdm import tqdm

VERSION = 1


@dataclass
class FaceSet:
    embeddings: np.ndarray  # (F, D)
    image: np.ndarray  # (F,) image index: the cannot-link group
    label: np.ndarray  # (F,) person index, -1 unlabelled
    source: np.ndarray  # (F,) which collection (index into sources)
    people: list[str]
    sources: list[str]


def _faces(engine: FaceEngine, path: Path):
    image = load_image(path.read_bytes())
    faces = engine.detect(image)
    if not faces:
        return np.zeros((0, engine.recognizer.dim), np.float32), -1
    height, width = image.shape[:2]
    central = choose_face(faces, width, height, FacePolicy.CENTRAL)
    unit, _ = engine.embed_faces(image, faces)
    return unit, central


def build(
    engine: FaceEngine,
    images: list[tuple[Path, str, str]],
    cache_dir: Path | None = None,
    progress: bool = True,
) -> FaceSet:
    """``images``: (path, person, collection) each."""
    key = json.dumps(
        {
            **engine.embedding_settings(),
            "version": VERSION,
            "images": hashlib.sha256(
                "\n".join(f"{p}|{who}|{c}" for p, who, c in images).encode()
            ).hexdigest(),
        },
        sort_keys=True,
    )
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"faces-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
        if cache.is_file():
            with np.load(cache, allow_pickle=False) as data:
                return FaceSet(
                    data["embeddings"],
                    data["image"],
                    data["label"],
                    data["source"],
                    [str(p) for p in data["people"]],
                    [str(s) for s in data["sources"]],
                )
    people = sorted({who for _, who, _ in images})
    sources = sorted({c for _, _, c in images})
    person_index = {p: i for i, p in enumerate(people)}
    embs, img, lab, src = [], [], [], []
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        results = pool.map(lambda item: _faces(engine, item[0]), images)
        for i, ((_, who, collection), (unit, central)) in enumerate(
            tqdm(
                zip(images, results, strict=True),
                total=len(images),
                disable=not progress,
                desc="faces",
                unit="img",
            )
        ):
            for j, vector in enumerate(unit):
                embs.append(vector)
                img.append(i)
                lab.append(person_index[who] if j == central else -1)
                src.append(sources.index(collection))
    faces = FaceSet(
        np.array(embs, np.float32), np.array(img), np.array(lab), np.array(src), people, sources
    )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache,
            embeddings=faces.embeddings,
            image=faces.image,
            label=faces.label,
            source=faces.source,
            people=np.array(people),
            sources=np.array(sources),
        )
    return faces
