"""The training loop: freeze all but the last layers, learn from an export folder
with multi-similarity plus a pull towards the base model, checkpoint every epoch,
draw the curves, export ONNX and check it against PyTorch.

``train(config)`` is what ``likeness train`` runs."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from tqdm import tqdm

from likeness.engine.modelpack import sha256_of
from likeness.engine.recognizer import open_recognizer
from likeness.errors import ConflictError, ValidationError
from likeness.learning.training.convert import export_onnx, input_scale, load_torch, to_input
from likeness.learning.training.data import (
    Augment,
    TrainingSet,
    data_hash,
    degrade_low_res,
    load_export,
)
from likeness.learning.training.loss import keep_close, multi_similarity

#: Export and import must agree this well (cosine) on every face checked.
PARITY_MIN = 0.9999
PARITY_FACES = 500
#: The fixed low-resolution view of the validation faces drawn in the curves.
VAL_LOW_RES = 28


@dataclass
class TrainConfig:
    data: Path
    base: Path  # the base recogniser's ONNX file
    out: Path
    epochs: int = 5
    batch_faces: int = 64
    lr: float = 3e-4
    #: how many of the last parameterised layers learn (the rest and all BatchNorm
    #: statistics stay frozen)
    trainable_layers: int = 6
    keep_weight: float = 1.0  # the pull towards the base model's embeddings
    margin: float = 0.5
    augment: Augment = field(default_factory=Augment)
    seed: int = 0
    resume: bool = False
    progress: bool = True
    threads: int = 0  # torch intra-op threads (0: its default)
    max_steps: int = 0  # stop after this many steps in all (0: no limit; tests)
    parity_faces: int = PARITY_FACES
    val_faces: int = 400  # validation faces drawn in the curves (at most)

    def as_dict(self) -> dict:
        data = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}


@dataclass
class TrainResult:
    out: Path
    onnx: Path
    base_sha256: str
    onnx_sha256: str
    data_sha256: str
    history: list[dict]
    parity: dict
    data: dict
    trainable: list[str]
    seconds: float

    def as_dict(self) -> dict:
        return {
            "out": str(self.out),
            "onnx": str(self.onnx),
            "base_sha256": self.base_sha256,
            "onnx_sha256": self.onnx_sha256,
            "data_sha256": self.data_sha256,
            "history": self.history,
            "parity": self.parity,
            "data": self.data,
            "trainable": self.trainable,
            "seconds": round(self.seconds, 1),
        }


def freeze(module: nn.Module, layers: int) -> list[str]:
    """Let only the last ``layers`` parameterised modules learn; return their names."""
    owners = [
        (name, m)
        for name, m in module.named_modules()
        if name and any(True for _ in m.parameters(recurse=False))
    ]
    if layers < 1 or layers > len(owners):
        raise ValidationError(f"trainable layers must be 1..{len(owners)} for this model")
    for p in module.parameters():
        p.requires_grad_(False)
    chosen = owners[-layers:]
    for _, m in chosen:
        for p in m.parameters(recurse=False):
            p.requires_grad_(True)
    return [name for name, _ in chosen]


def embed(module: nn.Module, crops: np.ndarray, scale, batch: int = 128) -> np.ndarray:
    """Unit embeddings of crops, no gradient."""
    out = []
    with torch.no_grad():
        for start in range(0, len(crops), batch):
            feats = module(to_input(crops[start : start + batch], scale))
            out.append(nn.functional.normalize(feats, dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def parity(onnx_path: Path, module: nn.Module, crops: np.ndarray, scale) -> dict:
    """Cosine between ONNX Runtime's and PyTorch's embeddings of the same crops."""
    runtime = open_recognizer(onnx_path)
    ours, _ = runtime.embed_crops(list(crops), flip=False)
    theirs = embed(module, crops, scale)
    cos = np.sum(ours * theirs, axis=1)
    return {"faces": len(crops), "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}


def _check_parity(result: dict, what: str) -> None:
    if result["min_cosine"] < PARITY_MIN:
        raise ValidationError(
            f"{what}: ONNX Runtime and PyTorch disagree (min cosine "
            f"{result['min_cosine']:.6f} < {PARITY_MIN})"
        )


def _val_scores(emb: np.ndarray, identity: np.ndarray) -> float | None:
    """AUC over every pair of the validation faces."""
    if len(emb) < 2:
        return None
    i, j = np.triu_indices(len(emb), k=1)
    same = identity[i] == identity[j]
    if same.all() or not same.any():
        return None
    return float(roc_auc_score(same, np.sum(emb[i] * emb[j], axis=1)))


class _Run:
    """One training run's state (what a checkpoint holds)."""

    def __init__(self, config: TrainConfig, data: TrainingSet) -> None:
        self.config, self.data = config, data
        self.scale = input_scale(config.base)
        self.base = load_torch(config.base)
        self.model = load_torch(config.base)
        self.trainable = freeze(self.model, config.trainable_layers)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.train_faces = data.faces("train")
        val = data.faces("val")
        self.val_faces = np.random.default_rng(config.seed).permutation(val)[: config.val_faces]
        per_epoch = max(1, int(np.ceil(len(self.train_faces) / config.batch_faces)))
        self.steps_per_epoch = per_epoch
        total = per_epoch * config.epochs
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, total)
        self.rng = np.random.default_rng(config.seed)
        self.epoch, self.history, self.steps = 0, [], 0
        by_identity: dict[int, list[int]] = {}
        for face in self.train_faces:
            by_identity.setdefault(int(data.identity[face]), []).append(int(face))
        self.groups = [faces for faces in by_identity.values() if len(faces) >= 2]
        # the base model's embeddings of every clean crop, plain and mirrored (by
        # ONNX Runtime: faster, and the import parity shows they are the same)
        runtime = open_recognizer(config.base)
        plain, _ = runtime.embed_crops(list(data.crops), flip=False)
        mirrored, _ = runtime.embed_crops([c[:, ::-1] for c in data.crops], flip=False)
        self.old = np.stack([plain, mirrored], axis=1).astype(np.float32)

    # -- checkpoints ---------------------------------------------------------------
    def state(self) -> dict:
        return {
            "epoch": self.epoch,
            "steps": self.steps,
            "history": self.history,
            "params": {
                n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad
            },
            "trainable": self.trainable,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }

    def restore(self, state: dict) -> None:
        if state["trainable"] != self.trainable:
            raise ConflictError("the checkpoint trained other layers: start a new run")
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, value in state["params"].items():
                params[name].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.steps, self.history = state["epoch"], state["steps"], state["history"]

    # -- one epoch -----------------------------------------------------------------
    def _batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces of a batch: identities with two or more train faces, two to four
        faces each (positives for every anchor), plus listed negatives."""
        config, data = self.config, self.data
        order = self.rng.permutation(self.train_faces)
        chosen: list[int] = []
        groups = self.groups
        if groups:
            for g in self.rng.permutation(len(groups)):
                faces = groups[g]
                take = self.rng.choice(faces, size=min(len(faces), 4), replace=False)
                chosen.extend(int(f) for f in take)
                if len(chosen) >= config.batch_faces:
                    break
        for face in order:  # fill with single faces (negatives for everyone)
            if len(chosen) >= config.batch_faces:
                break
            if int(face) not in chosen:
                chosen.append(int(face))
        faces = np.array(chosen[: config.batch_faces])
        flips = self.rng.random(len(faces)) < config.augment.flip
        crops = []
        for face, flip in zip(faces, flips, strict=True):
            crop = data.crops[face][:, ::-1] if flip else data.crops[face]
            crops.append(_no_flip(config.augment)(crop, self.rng))
        return faces, flips, np.stack(crops)

    def run_epoch(self, bar) -> dict:
        config = self.config
        losses, keeps = [], []
        for _ in range(self.steps_per_epoch):
            if config.max_steps and self.steps >= config.max_steps:
                break
            faces, flips, crops = self._batch()
            feats = nn.functional.normalize(self.model(to_input(crops, self.scale)), dim=1)
            identity = torch.from_numpy(self.data.identity[faces])
            old = torch.from_numpy(self.old[faces, flips.astype(int)])
            maybe_same = None
            if self.data.same_person is not None:  # no vote joined them, yet alike
                base = torch.from_numpy(self.old[faces, 0])
                maybe_same = (base @ base.T) >= self.data.same_person
            metric = multi_similarity(
                feats, identity, margin=config.margin, not_negative=maybe_same
            )
            keep = keep_close(feats, old)
            loss = metric + config.keep_weight * keep
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.steps += 1
            losses.append(float(metric.detach()))
            keeps.append(float(keep.detach()))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses):.4f}", keep=f"{np.mean(keeps):.4f}")
        return {
            "loss": float(np.mean(losses)) if losses else None,
            "keep": float(np.mean(keeps)) if keeps else None,
        }

    def validate(self) -> dict:
        faces = self.val_faces
        if len(faces) < 2:
            return {"val_auc": None, "val_auc_low_res": None}
        crops = self.data.crops[faces]
        low = np.stack([degrade_low_res(c, VAL_LOW_RES) for c in crops])
        ident = self.data.identity[faces]
        return {
            "val_auc": _val_scores(embed(self.model, crops, self.scale), ident),
            "val_auc_low_res": _val_scores(embed(self.model, low, self.scale), ident),
        }


def _no_flip(augment: Augment) -> Augment:
    """The augmentation without its flip (the loop flips, to know which old
    embedding belongs to the crop)."""
    return Augment(0.0, augment.low_res, augment.low_res_p, augment.blur_p, augment.light_p)


def draw_curves(history: list[dict], path: Path) -> Path:
    """Training loss, the pull term and validation AUC per epoch, as a picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["loss"] for h in history], marker="o", label="multi-similarity")
    left.plot(epochs, [h["keep"] for h in history], marker="o", label="pull to base")
    left.set_xlabel("epoch")
    left.set_title("training loss")
    left.legend()
    for key, label in (("val_auc", "validation AUC"), ("val_auc_low_res", "at 28 px")):
        values = [h.get(key) for h in history]
        if any(v is not None for v in values):
            right.plot(epochs, values, marker="o", label=label)
    right.set_xlabel("epoch")
    right.set_title("validation (identities not trained on)")
    if right.lines:
        right.legend()
    else:
        right.text(0.5, 0.5, "no validation pairs", ha="center", transform=right.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _check(config: TrainConfig) -> None:
    if config.epochs < 1:
        raise ValidationError("epochs must be at least 1")
    if config.batch_faces < 2:
        raise ValidationError("a batch needs at least 2 faces")
    if not config.lr > 0:
        raise ValidationError("the learning rate must be above 0")
    if config.keep_weight < 0:
        raise ValidationError("the pull towards the base model cannot be negative")
    if not 0 <= config.augment.low_res_p <= 1:
        raise ValidationError("the share of low-resolution augmentation lies in 0..1")


def train(config: TrainConfig) -> TrainResult:
    """Train, checkpoint, draw, export, check parity; see the module docstring."""
    start = time.perf_counter()
    _check(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    out = Path(config.out)
    checkpoint = out / "checkpoints" / "last.pt"
    if out.exists() and any(out.iterdir()) and not (config.resume and checkpoint.is_file()):
        raise ConflictError(f"{out} is not empty: train into a new folder, or --resume")
    data = load_export(config.data)
    if not len(data.faces("train")):
        raise ValidationError(f"{config.data} has no training faces")
    size = open_recognizer(config.base).crop_size
    if data.crops.shape[1:3] != (size, size):
        raise ValidationError(
            f"{config.data} holds {data.crops.shape[1]}x{data.crops.shape[2]} crops; this "
            f"recogniser takes {size}x{size} aligned faces"
        )
    base_sha, data_sha = sha256_of(Path(config.base)), data_hash(config.data)
    run = _Run(config, data)
    sample = data.crops[: min(config.parity_faces, len(data.crops))]
    imported = parity(Path(config.base), run.base, sample, run.scale)
    _check_parity(imported, "import")
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    if config.resume and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        if state.get("base_sha256") != base_sha or state.get("data_sha256") != data_sha:
            raise ConflictError("the checkpoint is of another base model or data: start anew")
        run.restore(state)
    if not run.history:
        run.history.append({"epoch": 0, "loss": None, "keep": None, **run.validate()})
    bar = None
    if config.progress:
        total = run.steps_per_epoch * config.epochs
        bar = tqdm(total=total, initial=run.steps, unit="step", desc="training")
    while run.epoch < config.epochs:
        if config.max_steps and run.steps >= config.max_steps:
            break
        record = {"epoch": run.epoch + 1, **run.run_epoch(bar), **run.validate()}
        run.epoch += 1
        run.history.append(record)
        state = run.state() | {"base_sha256": base_sha, "data_sha256": data_sha}
        torch.save(state, out / "checkpoints" / f"epoch-{run.epoch:03d}.pt")
        os.replace(out / "checkpoints" / f"epoch-{run.epoch:03d}.pt", checkpoint)
        draw_curves(run.history, out / "curves.png")
    if bar is not None:
        bar.close()
    onnx_path = export_onnx(run.model, out / "model.onnx", data.crops.shape[1], run.scale)
    exported = parity(onnx_path, run.model, sample, run.scale)
    _check_parity(exported, "export")
    result = TrainResult(
        out=out,
        onnx=onnx_path,
        base_sha256=base_sha,
        onnx_sha256=sha256_of(onnx_path),
        data_sha256=data_sha,
        history=run.history,
        parity={"import": imported, "export": exported},
        data=data.summary(),
        trainable=run.trainable,
        seconds=time.perf_counter() - start,
    )
    (out / "train.json").write_text(
        json.dumps({"config": config.as_dict(), **result.as_dict()}, indent=2, default=str)
    )
    return result
