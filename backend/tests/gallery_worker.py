"""A gallery process for the multi-process integrity tests: reads JSON commands on
stdin, answers one JSON line each. Vectors are made from seeds on both sides."""

from __future__ import annotations

import json
import sys

import numpy as np

from likeness.gallery import Gallery, GalleryStore, IndexConfig
from likeness.gallery.store import NewFace, NewImage
from likeness.storage import Database

DIM = 64


def vector(seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return x / np.linalg.norm(x)


def main() -> None:
    url, path, exact_max, background = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    config = IndexConfig(dim=DIM, exact_max=exact_max, rebuild_deleted_fraction=0.2)
    gallery = Gallery(
        GalleryStore(Database(url)), config, path, background=background == "1"
    ).open()
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        answer: dict = {"ok": True}
        if op == "add":
            images = [
                NewImage(
                    f"h{seed}",
                    10,
                    10,
                    [NewFace(vector(seed), [0, 0, 1, 1], 0.9, 20.0)],
                    image_id=f"img{seed}",
                )
                for seed in command["seeds"]
            ]
            answer["face_ids"] = gallery.add_images(images)
        elif op == "remove":
            gallery.remove_image(f"img{command['seed']}")
        elif op == "clear":
            gallery.clear()
        elif op == "rebuild":
            gallery.rebuild()
        elif op == "search":
            hits = gallery.search(vector(command["seed"]), top_k=command.get("top_k", 50))
            answer["hits"] = [[h.image_id, h.face_id, round(h.score, 4)] for h in hits]
        elif op == "wait":
            answer["done"] = gallery.wait(30)
        elif op == "state":
            ids = gallery.index.ids()
            answer.update(ids=ids.tolist(), kind=gallery.index.kind, generation=gallery.generation)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
