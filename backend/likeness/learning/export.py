"""Training data from the votes (issue 14): ``likeness feedback export --format
pairs|triplets --out DIR``.

* **Pairs**: a vote on a verification says whether its two faces are one person
  (a thumbs up on a match or a thumbs down on a non-match: genuine; the reverse:
  impostor); a vote on a search result says whether the searched face is the
  person shown (up: genuine, down: impostor).
* **Triplets**: each genuine pair (anchor, positive) with the hardest negative
  found, in this order: a face voted "not the same" as either of them, a person
  the same search showed below the confirmed one (a near miss the user passed
  over), else the most similar face of another identity in the export.
* **Checks**: faces the face checks refused are left out (gallery faces by their
  ``usable`` flag, verified faces by the checks stored with the verification;
  faces never checked are kept and counted); a pair voted both ways is a conflict
  and dropped; a pair voted twice is kept once; an impostor vote between faces
  that other votes (or the gallery) make one person is dropped as contradicted.
* **Identities**: faces joined by genuine votes, or of one gallery person, are one
  identity; identities are split into train and validation by a seeded hash, so
  no person is on both sides (impostor pairs across the split are dropped).

The folder gets ``pairs.csv`` or ``triplets.csv``, ``faces.npz`` (key, embedding,
identity, split of every face used), ``crops/<key>.jpg`` where the aligned crop is
stored, and ``report.json`` (the balance report). Nothing else of the images is
kept, and the folder appears only once it is complete.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select

from likeness.errors import ConflictError, ValidationError
from likeness.storage.db import Database
from likeness.storage.models import (
    FaceEmbedding,
    Feedback,
    GalleryFace,
    GalleryFaceCrop,
    GalleryState,
    Search,
    SearchFeedback,
)

FORMATS = ("pairs", "triplets")


@dataclass
class Face:
    key: str
    embedding: np.ndarray
    crop: bytes | None = None
    person: int | None = None  # gallery person, when known
    refused: bool | None = None  # None: never checked


@dataclass
class Vote:
    a: str
    b: str
    genuine: bool
    source: str  # "verify:<feedback id>" or "search:<vote id>"


@dataclass
class Export:
    """What the votes give, after the checks, before writing."""

    faces: dict[str, Face]
    pairs: list[Vote]
    identity: dict[str, int]  # face key -> identity number
    split: dict[int, str]  # identity -> "train" | "val"
    report: Counter = field(default_factory=Counter)
    near_misses: dict[str, set[str]] = field(default_factory=dict)  # face -> shown faces
    same_person: float | None = None  # faces scoring this high: likely one person


def _key(embedding: bytes) -> str:
    return "e" + hashlib.sha256(embedding).hexdigest()[:20]


def _unit(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, np.float32).copy()


class _Collector:
    """Faces and votes read from the database (one model version)."""

    def __init__(self) -> None:
        self.faces: dict[str, Face] = {}
        self.votes: list[Vote] = []
        self.near: dict[str, set[str]] = {}
        self.gallery_ids: set[int] = set()

    def face(self, raw: bytes, crop: bytes | None = None, refused: bool | None = None) -> str:
        key = _key(raw)
        found = self.faces.get(key)
        if found is None:
            self.faces[key] = Face(key, _unit(raw), crop, None, refused)
        else:  # the same face voted again: keep what is known of it
            found.crop = found.crop or crop
            if refused is not None:
                found.refused = bool(found.refused) or refused
        return key

    def gallery_face(self, face_id: int | None, raw: bytes) -> str:
        if face_id is None:
            return self.face(raw)
        self.gallery_ids.add(face_id)
        key = f"g{face_id}"
        self.faces.setdefault(key, Face(key, _unit(raw)))
        return key


def _versions(session, model: str | None) -> tuple[str | None, str | None]:
    """The one (pack, recogniser version) of the votes, or a clear error."""
    found = set()
    for table in (Feedback, SearchFeedback):
        query = select(table.model_pack, table.model_version).distinct()
        found.update(tuple(row) for row in session.execute(query))
    if model is not None:  # a pack, or a model version (its SHA-256 or a prefix of it)
        found = {f for f in found if model in (f[0],) or f[1].startswith(model)}
    if len(found) > 1:
        listed = ", ".join(sorted(f"{p} {v[:12]}" for p, v in found))
        raise ValidationError(
            f"the votes come from several model versions ({listed}): pass --model with "
            "the version (its first 12 characters are enough)"
        )
    return next(iter(found), (model, None))


def collect(db: Database, model: str | None = None) -> tuple[_Collector, str | None, str | None]:
    """Every vote of one model version, with its faces."""
    got = _Collector()
    with db.session() as session:
        pack, version = _versions(session, model)
        if version is None:
            return got, pack, version
        rows = session.scalars(
            select(Feedback).where(Feedback.model_version == version).order_by(Feedback.id)
        )
        for row in rows:
            refusals = row.refusals or {}
            faces = []
            for i, (raw, crop) in enumerate(
                ((row.embedding1, row.crop1), (row.embedding2, row.crop2))
            ):
                reasons = refusals.get(f"image{i + 1}") if row.refusals is not None else None
                faces.append(got.face(raw, crop, None if reasons is None else bool(reasons)))
            genuine = bool(row.is_match) == (row.vote == "up")
            got.votes.append(Vote(*faces, genuine, f"verify:{row.id}"))
        searches = session.scalars(
            select(SearchFeedback)
            .where(SearchFeedback.model_version == version)
            .order_by(SearchFeedback.id)
        )
        shown_by_search: dict[str, list] = {}
        for row in searches:
            refused = None if row.refusals is None else bool(row.refusals)
            query = got.face(row.query_embedding, refused=refused)
            result = got.gallery_face(row.face_id, row.result_embedding)
            got.votes.append(Vote(query, result, row.vote == "up", f"search:{row.id}"))
            if row.vote == "up" and row.search_id is not None:
                if row.search_id not in shown_by_search:
                    search = session.get(Search, row.search_id)
                    shown_by_search[row.search_id] = search.shown if search is not None else []
                shown = shown_by_search[row.search_id]
                listed = shown[row.face_index] if row.face_index < len(shown) else []
                others = {
                    int(c["face_id"])
                    for c in listed
                    if c.get("face_id") is not None and c.get("person_id") != row.person_id
                }
                got.near.setdefault(query, set()).update(f"g{f}" for f in others)
                got.gallery_ids.update(others)
        _read_gallery(session, got, version)
    return got, pack, version


def _read_gallery(session, got: _Collector, version: str) -> None:
    """Gallery faces' person, checks verdict, crop and embedding under the votes'
    model ``version`` (after a switch of model, the gallery keeps the earlier
    version's embeddings; a face without one cannot pair with these votes)."""
    state = session.get(GalleryState, 1)
    current = state is None or state.model_version in (None, version)
    ids = sorted(got.gallery_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(
            select(
                GalleryFace.id, GalleryFace.person_id, GalleryFace.usable, GalleryFace.embedding
            ).where(GalleryFace.id.in_(chunk))
        ).all()
        if not current:
            kept = dict(
                session.execute(
                    select(FaceEmbedding.face_id, FaceEmbedding.embedding).where(
                        FaceEmbedding.face_id.in_(chunk), FaceEmbedding.model_version == version
                    )
                ).all()
            )
            rows = [(i, p, u, kept[i]) for i, p, u, _ in rows if i in kept]
        for face_id, person_id, usable, raw in rows:
            key = f"g{face_id}"
            face = got.faces.setdefault(key, Face(key, _unit(raw)))
            face.person, face.refused = person_id, not usable
        crops = session.execute(
            select(GalleryFaceCrop.face_id, GalleryFaceCrop.jpeg).where(
                GalleryFaceCrop.face_id.in_(chunk)
            )
        )
        for face_id, jpeg in crops:
            if f"g{face_id}" in got.faces:
                got.faces[f"g{face_id}"].crop = jpeg
    for near in got.near.values():  # shown faces erased since: not a negative any more
        near.intersection_update(got.faces)


class _Identities:
    """Union-find over face keys."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _likely_same(faces: dict[str, Face], keys: list[str], line: float, chunk: int = 2048):
    """Pairs of faces that score at or above ``line`` (likely one person, though no
    vote says so)."""
    if not keys:
        return
    x = np.stack([faces[k].embedding for k in keys])
    for start in range(0, len(keys), chunk):
        block = x[start : start + chunk] @ x.T
        rows, cols = np.nonzero(block >= line)
        for r, c in zip(rows + start, cols, strict=True):
            if r < c:
                yield keys[r], keys[c]


def build(
    got: _Collector,
    val_share: float = 0.2,
    seed: int = 0,
    same_person: float | None = None,
    same_side: float | None = None,
) -> Export:
    """Apply the checks, find identities and split them. Faces scoring at least
    ``same_person`` never serve as each other's negative; faces scoring at least
    ``same_side`` (stricter: few false links, so no chain of them joins everyone)
    go to the same side of the split: two verifications of one person that no vote
    joins are still one person."""
    report: Counter = Counter()
    report["votes"] = len(got.votes)
    by_pair: dict[tuple[str, str], list[Vote]] = {}
    for vote in got.votes:
        if vote.a == vote.b:
            report["dropped_same_face"] += 1
            continue
        by_pair.setdefault(tuple(sorted((vote.a, vote.b))), []).append(vote)
    pairs = []
    for votes in by_pair.values():
        if len({v.genuine for v in votes}) > 1:
            report["dropped_conflicting"] += len(votes)
            continue
        report["dropped_duplicate"] += len(votes) - 1
        pairs.append(votes[0])
    kept = []
    for vote in pairs:
        if got.faces[vote.a].refused or got.faces[vote.b].refused:
            report["dropped_refused_face"] += 1
        else:
            kept.append(vote)
    identities = _Identities()
    persons: dict[int, str] = {}
    for face in got.faces.values():
        if face.person is not None:
            identities.join(face.key, persons.setdefault(face.person, face.key))
    for vote in kept:
        identities.find(vote.a)
        identities.find(vote.b)
        if vote.genuine:
            identities.join(vote.a, vote.b)
    consistent = []
    for vote in kept:
        if not vote.genuine and identities.find(vote.a) == identities.find(vote.b):
            report["dropped_contradicted"] += 1
        else:
            consistent.append(vote)
    used = {k for v in consistent for k in (v.a, v.b)} | {
        k for v in consistent for k in got.near.get(v.a, ()) if not got.faces[k].refused
    }
    roots = sorted({identities.find(k) for k in used})
    number = {root: i for i, root in enumerate(roots)}
    identity = {k: number[identities.find(k)] for k in used}
    sides = _Identities()  # identities joined by likeness: one side of the split
    if same_side is not None:
        for a, b in _likely_same(got.faces, sorted(used), same_side):
            if identity[a] != identity[b]:
                sides.join(str(identity[a]), str(identity[b]))
        largest = max(Counter(sides.find(str(i)) for i in number.values()).values(), default=0)
        if len(number) >= 50 and largest > 0.1 * len(number):  # chains, not people
            report["same_side_skipped_largest_group"] = largest
            sides = _Identities()
    split = {}
    for i in number.values():
        group = roots[int(sides.find(str(i)))]  # a face key naming the group: stable
        digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
        split[i] = "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_share else "train"
    final = []
    for vote in consistent:
        if split[identity[vote.a]] != split[identity[vote.b]]:
            report["dropped_across_split"] += 1
        else:
            final.append(vote)
    kept_faces = {k for v in final for k in (v.a, v.b)}
    kept_faces |= {  # near misses usable as negatives: on the anchor's side
        k
        for v in final
        for k in got.near.get(v.a, ())
        if k in used and split[identity[k]] == split[identity[v.a]]
    }
    faces = {k: got.faces[k] for k in sorted(kept_faces)}
    report["faces_unchecked"] = sum(1 for f in faces.values() if f.refused is None)
    return Export(faces, final, identity, split, report, got.near, same_person)


def _score(faces: dict[str, Face], a: str, b: str) -> float:
    return float(np.dot(faces[a].embedding, faces[b].embedding))


def triplets(data: Export) -> list[dict]:
    """(anchor, positive, negative) per genuine pair, the hardest negative first
    from votes, then from searches' near misses, then from every other identity."""
    faces, identity, split = data.faces, data.identity, data.split
    voted_apart: dict[str, set[str]] = {}
    for vote in data.pairs:
        if not vote.genuine:
            voted_apart.setdefault(vote.a, set()).add(vote.b)
            voted_apart.setdefault(vote.b, set()).add(vote.a)
    keys = sorted(faces)
    matrix = np.stack([faces[k].embedding for k in keys]) if keys else np.zeros((0, 0))
    ids = np.array([identity[k] for k in keys])
    sides = np.array([split[identity[k]] for k in keys])
    out = []
    for vote in data.pairs:
        if not vote.genuine:
            continue
        anchor, positive = vote.a, vote.b
        own = identity[anchor]
        side = split[own]
        chosen, origin = None, None
        for origin_name, pool in (
            ("vote", voted_apart.get(anchor, set()) | voted_apart.get(positive, set())),
            (
                "near_miss",
                data.near_misses.get(anchor, set()) | data.near_misses.get(positive, set()),
            ),
        ):
            pool = [
                k for k in pool if k in faces and identity[k] != own and split[identity[k]] == side
            ]
            if pool:
                chosen = max(pool, key=lambda k: _score(faces, anchor, k))
                origin = origin_name
                break
        if chosen is None:
            scores = matrix @ faces[anchor].embedding
            scores[(ids == own) | (sides != side)] = -np.inf
            if data.same_person is not None:  # likely the same person: not a negative
                scores[scores >= data.same_person] = -np.inf
            if len(scores) and np.isfinite(scores.max()):
                chosen, origin = keys[int(scores.argmax())], "most_similar"
        if chosen is None:
            data.report["triplets_without_negative"] += 1
            continue
        out.append(
            {
                "split": side,
                "anchor": anchor,
                "positive": positive,
                "negative": chosen,
                "negative_from": origin,
                "anchor_positive": round(_score(faces, anchor, positive), 6),
                "anchor_negative": round(_score(faces, anchor, chosen), 6),
                "source": vote.source,
            }
        )
    return out


def balance(
    data: Export, rows: list[dict], fmt: str, pack: str | None, version: str | None
) -> dict:
    """The balance report: what was kept, what was dropped and why, per split."""
    report = dict(sorted(data.report.items()))
    per_split = {side: Counter(faces=0, identities=0) for side in ("train", "val")}
    for row in rows:
        side = per_split[row["split"]]
        if fmt == "pairs":
            side[row["label"]] += 1
            side[f"from_{row['source'].split(':')[0]}"] += 1
        else:
            side["triplets"] += 1
            side[f"negative_{row['negative_from']}"] += 1
    present = {data.identity[k] for k in data.faces}
    for key in data.faces:
        per_split[data.split[data.identity[key]]]["faces"] += 1
    for i in present:
        per_split[data.split[i]]["identities"] += 1
    return {
        "format": fmt,
        "model_pack": pack,
        "model_version": version,
        "rows": len(rows),
        "faces_with_crops": sum(1 for f in data.faces.values() if f.crop is not None),
        "checks": report,
        "splits": {side: dict(sorted(c.items())) for side, c in per_split.items()},
    }


def export_training(
    db: Database,
    out: str | os.PathLike[str],
    fmt: str,
    *,
    model: str | None = None,
    val_share: float = 0.2,
    seed: int = 0,
    same_person: float | None = None,
    same_side: float | None = None,
) -> dict:
    """Write the training data folder ``out`` (must not exist yet); return the report.
    ``same_person`` (default: the 1:1 threshold in force for the votes' model
    version): faces that score this high are never each other's negative;
    ``same_side`` (default: the 1:N threshold in force): they stay on one side of
    the split."""
    if fmt not in FORMATS:
        raise ValidationError(f"format is one of {', '.join(FORMATS)}", field="format")
    if not 0 <= val_share < 1:
        raise ValidationError("the validation share is at least 0 and below 1")
    out = Path(out)
    if out.exists():
        raise ConflictError(f"{out} exists already: export into a new folder")
    got, pack, version = collect(db, model)
    if version is not None:
        from likeness.learning.thresholds import ThresholdBook
        from likeness.settings import get_settings

        book = ThresholdBook(db, get_settings(), pack, version, 0)
        same_person = book.verify() if same_person is None else same_person
        same_side = book.search() if same_side is None else same_side
    data = build(got, val_share, seed, same_person, same_side)
    if fmt == "pairs":
        rows = [
            {
                "split": data.split[data.identity[v.a]],
                "label": "genuine" if v.genuine else "impostor",
                "a": v.a,
                "b": v.b,
                "score": round(_score(data.faces, v.a, v.b), 6),
                "source": v.source,
            }
            for v in data.pairs
        ]
    else:
        rows = triplets(data)
    report = balance(data, rows, fmt, pack, version)
    report["same_person"], report["same_side"] = same_person, same_side
    _publish(out, lambda folder: _write(folder, data, rows, fmt, report))
    return report


def _publish(out: Path, write) -> None:
    """Claim ``out`` (an empty folder made atomically: a folder already there is a
    ConflictError), write into a hidden sibling, then rename it over the claim. On
    failure nothing is left: not the claim, nor the parent folders made for it."""
    made = [p for p in reversed(out.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        out.mkdir()
    except FileExistsError:
        raise ConflictError(f"{out} exists already: export into a new folder") from None
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write(staging)
        os.rename(staging, out)  # over our own empty claim; refused if it got files
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            out.rmdir()  # only if still our empty claim
        for parent in reversed(made):
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise


def _write(folder: Path, data: Export, rows: list[dict], fmt: str, report: dict) -> None:
    columns = (
        ["split", "label", "a", "b", "score", "source"]
        if fmt == "pairs"
        else ["split", "anchor", "positive", "negative", "negative_from",
              "anchor_positive", "anchor_negative", "source"]
    )  # fmt: skip
    with (folder / f"{fmt}.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, columns)
        writer.writeheader()
        writer.writerows(rows)
    keys = sorted(data.faces)
    dim = len(data.faces[keys[0]].embedding) if keys else 0
    np.savez(
        folder / "faces.npz",
        keys=np.array(keys, dtype=str),
        embeddings=np.stack([data.faces[k].embedding for k in keys])
        if keys
        else np.zeros((0, dim)),
        identity=np.array([data.identity[k] for k in keys], np.int64),
        split=np.array([data.split[data.identity[k]] for k in keys], dtype=str),
    )
    crops = folder / "crops"
    crops.mkdir()
    for key in keys:
        if data.faces[key].crop is not None:
            (crops / f"{key}.jpg").write_bytes(data.faces[key].crop)
    (folder / "report.json").write_text(json.dumps(report, indent=2))
