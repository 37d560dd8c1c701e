"""The worst errors, drawn (issue 16): at the 1:1 threshold in force, the genuine
pairs that scored lowest and the impostor pairs that scored highest, each with
both aligned crops and its score, so a reader sees at a glance what the model
gets wrong (label noise, occlusion, pose, age)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from likeness.engine import FaceEngine
from likeness.errors import FaceError
from likeness.imaging import decode_image
from likeness.settings import FacePolicy

from likeness_eval.embedding import centre_crop
from likeness_eval.protocol import identity_of


def worst_pairs(scores: np.ndarray, issame: np.ndarray, count: int) -> dict[str, np.ndarray]:
    """Indices of the lowest-scoring genuine and the highest-scoring impostor pairs."""
    genuine = np.flatnonzero(issame)
    impostor = np.flatnonzero(~issame)
    return {
        "genuine": genuine[np.argsort(scores[genuine], kind="stable")[:count]],
        "impostor": impostor[np.argsort(-scores[impostor], kind="stable")[:count]],
    }


def _crop(engine: FaceEngine, path: Path) -> np.ndarray:
    image = decode_image(path.read_bytes())
    try:
        return engine.embed(image, policy=FacePolicy.CENTRAL).crop
    except FaceError:
        return centre_crop(image, engine.recognizer.crop_size)


def contact_sheet(engine: FaceEngine, pairset, scores: np.ndarray, threshold: float,
                  out: Path, count: int = 8) -> dict:  # fmt: skip
    """Draw the sheet to ``out`` and return the pairs it shows (names, scores)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = worst_pairs(scores, pairset.issame, count)
    rows = max(len(chosen["genuine"]), len(chosen["impostor"]), 1)
    fig, axes = plt.subplots(rows, 4, figsize=(8, 2.1 * rows), squeeze=False)
    listed = {}
    for column, kind in ((0, "genuine"), (2, "impostor")):
        listed[kind] = []
        for row, pair in enumerate(chosen[kind]):
            a, b = pairset.pairs[pair]
            wrong = scores[pair] < threshold if kind == "genuine" else scores[pair] >= threshold
            for offset, index in ((0, a), (1, b)):
                ax = axes[row][column + offset]
                ax.imshow(cv2.cvtColor(_crop(engine, pairset.path(index)), cv2.COLOR_BGR2RGB))
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_xlabel(Path(pairset.images[index]).stem, fontsize=6)
            axes[row][column].set_title(
                f"{kind}: {scores[pair]:.3f}{' (error)' if wrong else ''}",
                fontsize=8, loc="left", color="tab:red" if wrong else "black",
            )  # fmt: skip
            listed[kind].append({
                "a": pairset.images[a], "b": pairset.images[b],
                "score": float(scores[pair]), "error": bool(wrong),
            })  # fmt: skip
        for row in range(len(chosen[kind]), rows):
            axes[row][column].axis("off")
            axes[row][column + 1].axis("off")
    fig.suptitle(
        f"Lowest genuine and highest impostor scores (threshold {threshold:.3f})", fontsize=10
    )
    fig.tight_layout(rect=(0, 0, 1, 0.98))  # room for the title
    fig.savefig(out, dpi=110)
    plt.close(fig)
    genuine, impostor = scores[pairset.issame], scores[~pairset.issame]
    totals = {
        "genuine_pairs": int(len(genuine)),
        "genuine_below": int(np.sum(genuine < threshold)),
        "impostor_pairs": int(len(impostor)),
        "impostor_above": int(np.sum(impostor >= threshold)),
    }
    return {"threshold": threshold, "totals": totals, **listed}


def misses_sheet(engine: FaceEngine, pairset, parts, ident, out: Path, *,
                 beyond: int = 5, count: int = 12) -> list[dict]:  # fmt: skip
    """Draw the probes whose own person ranked beyond ``beyond`` (worst first): the
    probe, its person's enrolled photo and the gallery photo it matched best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    missed = np.flatnonzero(ident.probe_rank > beyond)
    missed = missed[np.argsort(-ident.probe_rank[missed], kind="stable")][:count]
    people = [identity_of(i) for i in pairset.images]
    column = {people[g]: g for g in parts.gallery}
    listed = []
    rows = max(len(missed), 1)
    fig, axes = plt.subplots(rows, 3, figsize=(6, 2.1 * rows), squeeze=False)
    for row, k in enumerate(missed):
        probe = parts.probes[k]
        own = column[people[probe]]
        top = parts.gallery[ident.probe_top[k]] if ident.probe_top[k] < len(parts.gallery) else None
        shown = ((probe, "probe"), (own, "enrolled"), (top, "best match"))
        for c, (index, role) in enumerate(shown):
            ax = axes[row][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if index is None:
                ax.set_xlabel("a distractor", fontsize=6)
                continue
            ax.imshow(cv2.cvtColor(_crop(engine, pairset.path(index)), cv2.COLOR_BGR2RGB))
            ax.set_xlabel(f"{role}: {Path(pairset.images[index]).stem}", fontsize=6)
        axes[row][0].set_title(f"own person at rank {int(ident.probe_rank[k])}", fontsize=8,
                               loc="left")  # fmt: skip
        listed.append({"probe": pairset.images[probe], "enrolled": pairset.images[own],
                       "rank": int(ident.probe_rank[k]),
                       "best_match": None if top is None else pairset.images[top]})  # fmt: skip
    if not len(missed):
        axes[0][0].set_title("no probe beyond rank " + str(beyond), fontsize=8)
        for ax in axes[0]:
            ax.axis("off")
    fig.suptitle(f"Identification: probes whose person ranked beyond {beyond}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return listed
