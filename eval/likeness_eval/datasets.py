"""Pair-list loaders: LFW View 2, CALFW, CPLFW (image folders) and InsightFace ``.bin``.

Every loader returns a :class:`PairSet`: the distinct images, the pairs as indices
into them, the same/different labels and the fold of every pair.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATASETS = ("lfw", "calfw", "cplfw")

#: Image folders tried in order, relative to the data directory.
IMAGE_DIRS = {
    "lfw": ("lfw-deepfunneled", "lfw", "."),
    "calfw": ("aligned images", "images&landmarks/images&landmarks/images", "images", "."),
    "cplfw": ("images", "aligned images", "."),
}
PAIR_FILES = {"lfw": "pairs.txt", "calfw": "pairs_CALFW.txt", "cplfw": "pairs_CPLFW.txt"}


class DatasetError(ValueError):
    """The data set is missing, incomplete or not in the expected format."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class PairSet:
    name: str
    source: str  # "pairs" (image folder + pair list) or "bin"
    #: Image identifiers: paths relative to ``image_root`` (folders) or "#<index>" (.bin).
    images: list[str]
    pairs: np.ndarray  # (P, 2) int indices into images
    issame: np.ndarray  # (P,) bool
    folds: np.ndarray  # (P,) int fold index
    image_root: Path | None = None
    #: Encoded image bytes for .bin sets (None for folders).
    blobs: list[bytes] | None = None
    aligned: bool = False  # True: images are aligned 112x112 crops (no detection)
    input_hashes: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.issame)

    @property
    def n_folds(self) -> int:
        return len(np.unique(self.folds))

    def path(self, index: int) -> Path:
        assert self.image_root is not None
        return self.image_root / self.images[index]

    def subset(self, limit: int) -> PairSet:
        """About ``limit`` pairs, balanced: the first k genuine and the first k impostor
        pairs of every fold (k = limit / (2 * folds)); images renumbered."""
        if limit <= 0 or limit >= len(self):
            return self
        k = max(1, limit // (2 * self.n_folds))
        keep = []
        for fold in np.unique(self.folds):
            for same in (True, False):
                idx = np.flatnonzero((self.folds == fold) & (self.issame == same))
                keep.extend(idx[:k].tolist())
        keep_arr = np.array(sorted(keep))
        pairs = self.pairs[keep_arr]
        used, inverse = np.unique(pairs.ravel(), return_inverse=True)
        return PairSet(
            name=self.name,
            source=self.source,
            images=[self.images[i] for i in used],
            pairs=inverse.reshape(-1, 2),
            issame=self.issame[keep_arr],
            folds=self.folds[keep_arr],
            image_root=self.image_root,
            blobs=None if self.blobs is None else [self.blobs[i] for i in used],
            aligned=self.aligned,
            input_hashes=dict(self.input_hashes),
        )


def _build(name, root, names_a, names_b, issame, folds, hashes) -> PairSet:
    index: dict[str, int] = {}
    pairs = np.empty((len(names_a), 2), np.int64)
    for i, (a, b) in enumerate(zip(names_a, names_b, strict=True)):
        pairs[i, 0] = index.setdefault(a, len(index))
        pairs[i, 1] = index.setdefault(b, len(index))
    images = list(index)
    missing = [n for n in images if not (root / n).is_file()]
    if missing:
        shown = "\n".join(f"  {root / n}" for n in missing[:10])
        raise DatasetError(
            f"{len(missing)} of {len(images)} images of the {name} pair list are missing "
            f"under {root}, e.g.:\n{shown}"
        )
    return PairSet(
        name=name,
        source="pairs",
        images=images,
        pairs=pairs,
        issame=np.asarray(issame, bool),
        folds=np.asarray(folds, np.int64),
        image_root=root,
        input_hashes=hashes,
    )


def find_image_dir(data_dir: Path, dataset: str, probe: str) -> Path:
    """The first candidate folder under ``data_dir`` that holds ``probe``."""
    for sub in IMAGE_DIRS[dataset]:
        root = (data_dir / sub).resolve()
        if (root / probe).is_file():
            return root
    tried = ", ".join(repr(s) for s in IMAGE_DIRS[dataset])
    raise DatasetError(
        f"No image folder for {dataset} found in {data_dir} (tried {tried}; looked for {probe})."
    )


def _pair_file(data_dir: Path, dataset: str, pairs_file: Path | None) -> Path:
    path = Path(pairs_file) if pairs_file else data_dir / PAIR_FILES[dataset]
    if not path.is_file():
        raise DatasetError(f"Pair list not found: {path}")
    return path


def load_lfw(data_dir: str | Path, pairs_file: str | Path | None = None) -> PairSet:
    """LFW View 2: ``pairs.txt`` with header ``<folds>\\t<n>``, then per fold n genuine
    lines ``name i j`` and n impostor lines ``name1 i name2 j``."""
    data_dir = Path(data_dir)
    path = _pair_file(data_dir, "lfw", pairs_file)
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    try:
        n_folds, per = int(lines[0][0]), int(lines[0][1])
    except (IndexError, ValueError):
        raise DatasetError(f"{path}: first line must be '<folds> <pairs per class>'") from None
    body = lines[1:]
    if len(body) != n_folds * per * 2:
        raise DatasetError(f"{path}: expected {n_folds * per * 2} pair lines, found {len(body)}")
    names_a, names_b, issame, folds = [], [], [], []
    for i, parts in enumerate(body):
        fold, pos = divmod(i, 2 * per)
        genuine = pos < per
        if genuine and len(parts) == 3:
            a, b = (parts[0], int(parts[1])), (parts[0], int(parts[2]))
        elif not genuine and len(parts) == 4:
            a, b = (parts[0], int(parts[1])), (parts[2], int(parts[3]))
        else:
            kind = "genuine (name i j)" if genuine else "impostor (name1 i name2 j)"
            raise DatasetError(f"{path}: line {i + 2} should be a {kind} pair: {' '.join(parts)}")
        names_a.append(f"{a[0]}/{a[0]}_{a[1]:04d}.jpg")
        names_b.append(f"{b[0]}/{b[0]}_{b[1]:04d}.jpg")
        issame.append(genuine)
        folds.append(fold)
    root = find_image_dir(data_dir, "lfw", names_a[0])
    hashes = {path.name: sha256_file(path)}
    return _build("lfw", root, names_a, names_b, issame, folds, hashes)


def _identity(filename: str) -> str:
    """The person in a CALFW/CPLFW file name: ``Name_NNNN.jpg`` / ``Name_N.jpg``."""
    stem = Path(filename).stem
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


def _folds_by_class(issame: np.ndarray, n_folds: int) -> np.ndarray:
    """The i-th pair of each class goes to fold i * n_folds // (pairs of that class):
    the same as consecutive folds for a list that interleaves the classes fold by
    fold, and still both classes in every fold for one that lists a class at a time."""
    folds = np.empty(len(issame), np.int64)
    for same in (True, False):
        members = np.flatnonzero(issame == same)
        folds[members] = np.arange(len(members)) * n_folds // max(len(members), 1)
    return folds


def load_xlfw(
    data_dir: str | Path, dataset: str, pairs_file: str | Path | None = None, n_folds: int = 10
) -> PairSet:
    """CALFW / CPLFW: no header; each pair is two consecutive lines ``filename token``
    with the same token on both. Two conventions are in use, told apart by the tokens:

    * fold numbers (the official ``pairs_CALFW.txt``): a genuine pair's token is its
      fold, 1..10, an impostor pair's is 0 (impostors: the i-th one in fold
      i // (impostors / 10));
    * labels: 1 same person, 0 different (folds by order within each class).

    The labels are checked against the person names in the file names, and every
    fold must hold both classes; anything else fails loudly."""
    if dataset not in ("calfw", "cplfw"):
        raise ValueError(dataset)
    data_dir = Path(data_dir)
    path = _pair_file(data_dir, dataset, pairs_file)
    lines = [ln.rsplit(maxsplit=1) for ln in path.read_text().splitlines() if ln.strip()]
    if len(lines) % 2:
        raise DatasetError(f"{path}: odd number of lines ({len(lines)}); pairs are 2 lines each")
    n_pairs = len(lines) // 2
    names_a, names_b, tokens = [], [], []
    for p in range(n_pairs):
        first, second = lines[2 * p], lines[2 * p + 1]
        if len(first) != 2 or len(second) != 2 or first[1] != second[1]:
            raise DatasetError(
                f"{path}: lines {2 * p + 1}-{2 * p + 2} must be 'filename token' "
                "with the same token on both lines"
            )
        if not first[1].isdigit():
            raise DatasetError(f"{path}: line {2 * p + 1}: token must be a number, got {first[1]}")
        names_a.append(first[0])
        names_b.append(second[0])
        tokens.append(int(first[1]))
    token_array = np.asarray(tokens, np.int64)
    issame = token_array != 0
    if token_array.max(initial=0) > 1:  # fold numbers
        if token_array.max() > n_folds:
            raise DatasetError(
                f"{path}: tokens go up to {token_array.max()}; fold numbers are 1..{n_folds}"
            )
        folds = _folds_by_class(issame, n_folds)
        folds[issame] = token_array[issame] - 1
        convention = "fold numbers"
    else:
        folds = _folds_by_class(issame, n_folds)
        convention = "0/1 labels"
    by_name = np.array(
        [_identity(a) == _identity(b) for a, b in zip(names_a, names_b, strict=True)]
    )
    wrong = np.flatnonzero(by_name != issame)
    if len(wrong):
        shown = ", ".join(
            f"line {2 * p + 1} ({names_a[p]} / {names_b[p]}, token {tokens[p]})" for p in wrong[:3]
        )
        raise DatasetError(
            f"{path}: {len(wrong)} pairs' tokens ({convention}) disagree with the person names "
            f"in their file names, e.g. {shown}"
        )
    for fold in range(n_folds):
        kinds = set(issame[folds == fold].tolist())
        if kinds != {True, False}:
            raise DatasetError(
                f"{path}: {n_pairs} pairs do not split into {n_folds} folds that each hold "
                f"genuine and impostor pairs (fold {fold + 1} holds {len(kinds)} kind(s))"
            )
    root = find_image_dir(data_dir, dataset, names_a[0])
    hashes = {path.name: sha256_file(path)}
    return _build(dataset, root, names_a, names_b, issame, folds, hashes)


def load_bin(path: str | Path, name: str | None = None, n_folds: int = 10) -> PairSet:
    """InsightFace ``.bin``: pickle of (encoded aligned 112x112 images, issame list);
    pair i = images 2i and 2i+1; consecutive equal folds (InsightFace's KFold)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f".bin file not found: {path}")
    with path.open("rb") as stream:
        try:
            bins, issame = pickle.load(stream, encoding="bytes")
        except Exception as exc:
            raise DatasetError(f"{path} is not an InsightFace .bin pickle: {exc}") from exc
    issame = np.asarray([bool(x) for x in issame])
    if len(bins) != 2 * len(issame):
        raise DatasetError(
            f"{path}: {len(bins)} images for {len(issame)} pairs (expected 2 per pair)"
        )
    if len(issame) % n_folds:
        raise DatasetError(f"{path}: {len(issame)} pairs do not split into {n_folds} folds")
    blobs = [bytes(b) for b in bins]
    per_fold = len(issame) // n_folds
    return PairSet(
        name=name or path.stem.lower(),
        source="bin",
        images=[f"#{i}" for i in range(len(blobs))],
        pairs=np.arange(len(blobs)).reshape(-1, 2),
        issame=issame,
        folds=np.arange(len(issame)) // per_fold,
        blobs=blobs,
        aligned=True,
        input_hashes={path.name: sha256_file(path)},
    )


def load_dataset(dataset: str, data_dir: str | Path, pairs_file: str | Path | None = None):
    """Any supported set. ``data_dir`` may be a folder (image folder + pair list), a
    ``.bin`` file, or a folder holding ``<dataset>.bin`` and no pair list."""
    dataset = dataset.lower()
    if dataset not in DATASETS:
        raise DatasetError(f"Unknown data set {dataset!r}; choose from {', '.join(DATASETS)}")
    data_dir = Path(data_dir).expanduser()
    if data_dir.is_file() and data_dir.suffix == ".bin":
        return load_bin(data_dir, dataset)
    if not data_dir.is_dir():
        raise DatasetError(f"Data directory not found: {data_dir}")
    has_pairs = pairs_file is not None or (data_dir / PAIR_FILES[dataset]).is_file()
    if not has_pairs and (data_dir / f"{dataset}.bin").is_file():
        return load_bin(data_dir / f"{dataset}.bin", dataset)
    if dataset == "lfw":
        return load_lfw(data_dir, pairs_file)
    return load_xlfw(data_dir, dataset, pairs_file)
