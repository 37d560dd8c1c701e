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
