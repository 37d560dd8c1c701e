"""Clustering at scale: synthetic faces fitted to real LFW embeddings, clustered with
the production code (``likeness.clustering``: ``knn_index``, ``knn_edges``,
``threshold_components``, the stable-id matching of a full run and the incremental
assignment), then scored against the known identities.

Data (``--sizes``; each size in its own process, so peak RSS is that size's own):
  identities  sizes from a discrete power law (P(s) ~ s^-2, 1..1000 faces): about
              60% of identities appear once, a long tail has hundreds of faces.
  vectors     the two-covariance model of ``bench_gallery.py --data lfw`` (between-
              and within-person covariance of real buffalo_s LFW embeddings), kept
              as float16 in a memory-mapped file (2 GB at 2M, not 4 GB in RAM).
  photos      faces are dealt into photos of 1-5 faces of different people: two
              faces of one photo are a cannot-link, as in the product.

Steps, each timed, with peak RSS:
  1. full run: kNN index (exact up to 50k faces, else IVF with 4-bit PQ candidates
     re-ranked on 8-bit codes), kNN
     graph (k=10), constrained threshold components, stable-id matching (every
     cluster of 2+ faces becomes a person); kNN recall@k of the index against exact
     search on ``--recall-queries`` faces; pairwise and BCubed F against the known
     identities; cannot-link violations.
  2. users name the ``--named`` largest clusters (their faces become fixed).
  3. incremental: ``--new`` new faces (90% new photos of known people, drawn by
     their frequency; 10% new people) assigned as in ``clustering.incremental``:
     search + decision, timed (the database writes are not in this figure).
  4. a second full run over all faces, matched to the persons of steps 1-3: how many
     existing faces change person (target <= 1%), how many faces of named persons
     (0 by construction: their faces are fixed), how many faces were kept in their
     person for being still like it, cannot-link violations, and how often an
     incremental decision agrees with the full run.

  .venv/bin/python backend/benchmarks/bench_clustering.py \\
      --lfw-embeddings /tmp/lfw-embeddings.npz --sizes 200000 500000 2000000
(``/tmp/lfw-embeddings.npz`` comes from ``lfw_embeddings.py``.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from likeness.clustering.graph import EXACT_LIMIT, knn_edges, knn_index
from likeness.clustering.incremental import decide
from likeness.clustering.methods import threshold_components
from likeness.clustering.run import _match
from likeness.clustering.store import FaceTable
from likeness_eval.cluster_metrics import bcubed, cannot_link_violations, pairwise
from likeness_eval.distractors import DIM, LfwModel


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def identity_sizes(rng, n: int, alpha: float = 2.0, largest: int = 1000) -> np.ndarray:
    """Identity sizes summing to ``n``: P(s) ~ s^-alpha on 1..largest."""
    s = np.arange(1, largest + 1)
    p = s**-alpha
    p /= p.sum()
    sizes = rng.choice(s, int(n / (p * s).sum() * 1.2) + 10, p=p)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    sizes[-1] -= sizes.sum() - n
    return sizes[sizes > 0]


def deal_photos(rng, identity: np.ndarray, first_photo: int = 0) -> np.ndarray:
    """Photo of each face: faces in random order, dealt into photos of 1-5 faces;
    a face whose person is already in that photo gets a photo of its own."""
    n = len(identity)
    order = rng.permutation(n)
    counts = rng.choice([1, 2, 3, 4, 5], n, p=[0.6, 0.2, 0.1, 0.05, 0.05])
    counts = counts[: np.searchsorted(np.cumsum(counts), n) + 1]
    photo_of_slot = np.repeat(np.arange(len(counts)), counts)[:n]
    photo = np.empty(n, np.int64)
    photo[order] = photo_of_slot
    key = photo * (int(identity.max()) + 1) + identity
    sort = np.argsort(key, kind="stable")
    repeat = np.concatenate([[False], key[sort][1:] == key[sort][:-1]])
    dup = sort[repeat]
    photo[dup] = len(counts) + np.arange(len(dup))
    return photo + first_photo


def make_faces(model: LfwModel, rng, n: int, path: Path, room: int = 0):
    """(float16 memmap of n unit vectors and ``room`` empty rows after them, identity
    of each, centroids, identity sizes)."""
    sizes = identity_sizes(rng, n)
    identity = np.repeat(np.arange(len(sizes)), sizes)
    centroids = model.centroids(rng, len(sizes))
    vectors = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n + room, DIM))
    for s in range(0, n, 100_000):
        vectors[s : s + 100_000] = model.samples(rng, centroids[identity[s : s + 100_000]])
    vectors.flush()
    return vectors, identity, centroids, sizes


def knn_recall(vectors, index, k: int, threshold: float, queries: int, rng) -> dict:
    """Of ``queries`` random faces: recall@k of ``index`` against exact search, and
    the recall of the edges that matter (exact neighbours at or above the
    threshold; the ordering of far strangers does not change a clustering)."""
    rows = np.sort(rng.choice(len(vectors), queries, replace=False))
    q = np.asarray(vectors[rows], np.float32)
    best_s = np.full((queries, k + 1), -np.inf, np.float32)
    best_i = np.full((queries, k + 1), -1, np.int64)
    for s in range(0, len(vectors), 200_000):
        part = np.asarray(vectors[s : s + 200_000], np.float32)
        sims, ids = faiss.knn(q, part, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
        all_s = np.concatenate([best_s, sims], axis=1)
        all_i = np.concatenate([best_i, ids + s], axis=1)
        top = np.argsort(-all_s, axis=1)[:, : k + 1]
        best_s = np.take_along_axis(all_s, top, 1)
        best_i = np.take_along_axis(all_i, top, 1)
    _, found = index.search(q, k + 1)
    hits, strong, strong_hits = [], 0, 0
    for t, ts, f, r in zip(
        best_i.tolist(), best_s.tolist(), found.tolist(), rows.tolist(), strict=True
    ):
        got = set(f) - {r}
        hits.append(len((set(t) - {r}) & got) / k)
        edges = {i for i, s in zip(t, ts, strict=True) if i != r and s >= threshold}
        strong += len(edges)
        strong_hits += len(edges & got)
    return {
        "recall@k": round(float(np.mean(hits)), 4),
        "edge_recall": round(strong_hits / strong, 4) if strong else None,
    }


def changes(before: np.ndarray, after: np.ndarray) -> dict:
    """How faces changed person: to another person, out of one, into one."""
    moved = (before >= 0) & (after >= 0) & (before != after)
    return {
        "to_another_person": int(moved.sum()),
        "left_unassigned": int(((before >= 0) & (after < 0)).sum()),
        "newly_assigned": int(((before < 0) & (after >= 0)).sum()),
    }


def cluster(vectors, photos, args, owners=None, must=None, index=None):
    """One full clustering (graph + components) with stage timings."""
    times = {}
    t = time.perf_counter()
    if index is None:
        index = knn_index(vectors)
    times["index_s"] = time.perf_counter() - t
    t = time.perf_counter()
    edges = knn_edges(vectors, k=args.k, min_similarity=args.threshold, index=index)
    times["graph_s"] = time.perf_counter() - t
    t = time.perf_counter()
    labels = threshold_components(
        len(vectors), edges, args.threshold, groups=photos, owners=owners, must=must
    )
    times["components_s"] = time.perf_counter() - t
    times["edges"] = len(edges)
    return labels, index, times


def run_size(n: int, args) -> dict:
    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    model = LfwModel.from_npz(args.lfw_embeddings)
    out: dict = {"n": n, "threads": args.threads, "exact_limit": EXACT_LIMIT}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        t = time.perf_counter()
        all_vectors, identity, centroids, sizes = make_faces(
            model, rng, n, Path(tmp) / "x.npy", room=args.new
        )
        vectors = all_vectors[:n]  # the new faces' rows stay empty until step 3
        photos = deal_photos(rng, identity)
        out["generate_s"] = round(time.perf_counter() - t, 1)
        out["identities"] = len(sizes)
        out["singleton_identities"] = int((sizes == 1).sum())
        out["largest_identity"] = int(sizes.max())
        out["photos"] = int(photos.max()) + 1
        print(f"# n={n}: data {out}", flush=True)

        # 1. full run
        t0 = time.perf_counter()
        labels, index, times = cluster(vectors, photos, args)
        table = FaceTable(
            ids=np.arange(1, n + 1, dtype=np.int64),
            image=photos,
            person=np.full(n, -1, np.int64),
            fixed=np.zeros(n, bool),
            vectors=vectors,
        )
        t = time.perf_counter()
        owners = np.full(n, -1, np.int64)
        moves, new_clusters = _match(table, labels, owners, args.min_size, set())
        person = np.full(n, -1, np.int64)
        for pid, faces in enumerate(new_clusters):
            person[np.asarray(faces) - 1] = pid
        times["match_s"] = time.perf_counter() - t
        out["full_run"] = {k: round(v, 1) for k, v in times.items()} | {
            "total_s": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(peak_rss_mb()),
        }
        print(f"# full run: {out['full_run']}", flush=True)
        out["knn"] = knn_recall(vectors, index, args.k, args.threshold, args.recall_queries, rng)
        scored = np.where(person >= 0, person, person.max() + 1 + np.arange(n))
        out["quality"] = {
            "persons": len(new_clusters),
            "unassigned": int((person < 0).sum()),
            "pairwise_f": round(pairwise(scored, identity)["f1"], 4),
            "bcubed": {k: round(v, 4) for k, v in bcubed(scored, identity).items()},
            "cannot_link_violations": cannot_link_violations(scored, photos),
        }
        print(f"# quality: {out['quality']}, knn {out['knn']}", flush=True)

        # 2. users name the largest clusters
        counts = np.bincount(person[person >= 0])
        named = np.argsort(-counts, kind="stable")[: args.named]
        fixed = np.isin(person, named)

        # 3. incremental assignment of new faces
        m = args.new
        known = rng.random(m) < 0.9
        new_identity = np.where(
            known,
            rng.choice(len(sizes), m, p=sizes / sizes.sum()),
            len(sizes) + rng.integers(0, m // 20, m),  # new people, ~2 faces each
        )
        new_centroids = model.centroids(rng, m // 20)
        all_centroids = np.vstack([centroids, new_centroids])
        new_vectors = model.samples(rng, all_centroids[new_identity]).astype(np.float16)
        new_photos = deal_photos(rng, new_identity, first_photo=int(photos.max()) + 1)
        t = time.perf_counter()
        index.add(new_vectors.astype(np.float32))
        scores, neighbours = index.search(new_vectors.astype(np.float32), args.k + 1)
        search_s = time.perf_counter() - t
        ids = np.arange(n + 1, n + m + 1)
        all_photos = np.concatenate([photos, new_photos])
        person_of = dict(enumerate((person).tolist(), start=1))  # face id -> person
        person_of.update({int(f): -1 for f in ids})
        photos_of: dict[int, set[int]] = {}
        for face, p in enumerate(person.tolist()):
            if p >= 0:
                photos_of.setdefault(p, set()).add(int(photos[face]))
        fresh = iter(range(int(person.max()) + 1, 1 << 62))
        t = time.perf_counter()
        decisions = decide(
            new_ids=ids.tolist(),
            photo_of=np.concatenate([[-1], all_photos]),  # face id -> photo
            person_of={k: (None if v < 0 else v) for k, v in person_of.items()},
            photos_of=photos_of,
            scores=scores,
            neighbours=neighbours + 1,  # rows -> face ids
            threshold=args.threshold,
            min_size=args.min_size,
            new_person=lambda: next(fresh),
        )
        decide_s = time.perf_counter() - t
        incremental = np.full(m, -1, np.int64)
        person_all = np.concatenate([person, incremental])
        for members, p in decisions:
            person_all[np.asarray(members) - 1] = p
        joined = person_all[n:]
        out["incremental"] = {
            "new_faces": m,
            "search_s": round(search_s, 2),
            "decide_s": round(decide_s, 2),
            "total_s": round(search_s + decide_s, 2),
            "assigned": int((joined >= 0).sum()),
            "waiting": int((joined < 0).sum()),
        }
        print(f"# incremental: {out['incremental']}", flush=True)

        # 4. the next full run over everything, matched to the persons so far
        all_vectors[n:] = new_vectors
        del index, table, vectors, person_of, photos_of, decisions
        all_fixed = np.concatenate([fixed, np.zeros(m, bool)])
        owners = np.where(all_fixed, person_all, -1)
        must = [np.flatnonzero(owners == p) for p in named]
        t0 = time.perf_counter()
        labels2, _, times2 = cluster(all_vectors, all_photos, args, owners=owners, must=must)
        table2 = FaceTable(
            ids=np.arange(1, n + m + 1, dtype=np.int64),
            image=all_photos,
            person=person_all,
            fixed=all_fixed,
            vectors=all_vectors,
        )
        moves, new_clusters = _match(table2, labels2, owners, args.min_size, set(), args.threshold)
        kept = len(_match(table2, labels2, owners, args.min_size, set())[0]) - len(moves)
        after = person_all.copy()
        for face, p in moves.items():
            after[face - 1] = -1 if p is None else p
        next_id = int(after.max()) + 1
        for c, faces in enumerate(new_clusters):
            after[np.asarray(faces) - 1] = next_id + c
        changed_existing = int((after[:n] != person_all[:n]).sum())
        out["second_run"] = {
            "total_s": round(time.perf_counter() - t0, 1),
            "changed_existing_faces": changed_existing,
            "changed_existing_share": round(changed_existing / n, 5),
            "changed_named_faces": int((after[:n][fixed] != person_all[:n][fixed]).sum()),
            "how": changes(person_all[:n], after[:n]),
            "kept_in_their_person": kept,  # faces a tiny cluster would have unassigned
            "cannot_link_violations": cannot_link_violations(
                np.where(after >= 0, after, after.max() + 1 + np.arange(n + m)), all_photos
            ),
            "new_faces_agreeing": round(float(np.mean(after[n:] == person_all[n:])), 4),
            "assigned_new_faces_agreeing": round(
                float(np.mean((after[n:] == person_all[n:])[joined >= 0])), 4
            ),
            "peak_rss_mb": round(peak_rss_mb()),
        }
        print(f"# second run: {out['second_run']}", flush=True)
        truth = np.concatenate([identity, new_identity])
        scored = np.where(after >= 0, after, after.max() + 1 + np.arange(n + m))
        out["second_run"]["bcubed_f"] = round(bcubed(scored, truth)["f1"], 4)
        del all_vectors
    out["peak_rss_mb"] = round(peak_rss_mb())
    return out


def fill_database(db, vectors, photos, first_face: int = 1) -> None:
    """Photos and usable faces straight into the gallery tables (bulk inserts)."""
    from sqlalchemy import insert

    from likeness.storage.models import GalleryFace, GalleryImage

    with db.session() as session:
        have = session.scalar(select_max_image()) or 0
        wanted = np.unique(photos)
        new = wanted[wanted + 1 > have]
        for s in range(0, len(new), 20_000):
            session.execute(
                insert(GalleryImage),
                [
                    {
                        "id": int(ph) + 1,
                        "image_id": f"bench-{ph}",
                        "content_hash": f"{ph:064x}",
                        "width": 640,
                        "height": 480,
                    }
                    for ph in new[s : s + 20_000].tolist()
                ],
            )
    for s in range(0, len(vectors), 20_000):
        part = np.asarray(vectors[s : s + 20_000], np.float32)
        with db.session() as session:
            session.execute(
                insert(GalleryFace),
                [
                    {
                        "id": first_face + s + i,
                        "image_pk": int(photos[s + i]) + 1,
                        "box": [0, 0, 100, 100],
                        "det_score": 0.9,
                        "norm": 20.0,
                        "embedding": part[i].tobytes(),
                        "usable": True,
                    }
                    for i in range(len(part))
                ],
            )


def select_max_image():
    from sqlalchemy import func, select

    from likeness.storage.models import GalleryImage

    return select(func.max(GalleryImage.id))


def run_database(n: int, url: str, args) -> dict:
    """The production path on a real database: ``full_run`` (read, graph, cluster,
    match, write, refresh) twice, then ``incremental.assign`` of the new faces."""
    from likeness.clustering.incremental import assign
    from likeness.clustering.run import full_run
    from likeness.clustering.store import ClusterStore
    from likeness.storage import Database

    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    model = LfwModel.from_npz(args.lfw_embeddings)
    out: dict = {"n": n, "database": url.split(":", 1)[0]}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        url = url.replace("{tmp}", tmp)
        db = Database(url)
        db.migrate()
        all_vectors, identity, centroids, sizes = make_faces(
            model, rng, n, Path(tmp) / "x.npy", room=args.new
        )
        vectors = all_vectors[:n]
        photos = deal_photos(rng, identity)
        t = time.perf_counter()
        fill_database(db, vectors, photos)
        out["insert_s"] = round(time.perf_counter() - t, 1)
        all_vectors.flush()
        del vectors, all_vectors  # unmapped: the runs below hold only their own memory
        store = ClusterStore(db)
        stages: list = []
        started = time.perf_counter()

        def progress(done, total, message):
            stages.append((message, round(time.perf_counter() - started, 1)))

        report = full_run(store, args.threshold, args.k, args.min_size, progress=progress)
        out["first_run"] = report.as_dict() | {
            "stages": stages,
            "peak_rss_mb": round(peak_rss_mb()),
        }
        print(f"# first run: {out['first_run']}", flush=True)
        m = args.new
        new_identity = rng.choice(len(sizes), m, p=sizes / sizes.sum())
        new_vectors = model.samples(rng, centroids[new_identity])
        new_photos = deal_photos(rng, new_identity, first_photo=int(photos.max()) + 1)
        fill_database(db, new_vectors, new_photos, first_face=n + 1)
        all_vectors = np.load(Path(tmp) / "x.npy", mmap_mode="r+")
        all_vectors[n:] = new_vectors
        index = knn_index(all_vectors)  # the gallery's search index, in its place

        def neighbours(q, k):
            scores, rows = index.search(np.asarray(q, np.float32), k)
            return scores, np.where(rows >= 0, rows + 1, -1)  # rows -> face ids

        t = time.perf_counter()
        result = assign(
            store, neighbours, list(range(n + 1, n + m + 1)), args.threshold, args.k, args.min_size
        )
        out["incremental"] = result.as_dict() | {"seconds": round(time.perf_counter() - t, 1)}
        print(f"# incremental: {out['incremental']}", flush=True)
        # the stand-in search index and the vectors are the benchmark's, not the run's
        index = all_vectors = None
        stages = []
        started = time.perf_counter()
        report = full_run(store, args.threshold, args.k, args.min_size, progress=progress)
        out["second_run"] = report.as_dict() | {"stages": stages}
        print(f"# second run (10,000 new faces assigned): {out['second_run']}", flush=True)

        db.dispose()
    out["peak_rss_mb"] = round(peak_rss_mb())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-embeddings", required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000])
    parser.add_argument("--threshold", type=float, default=0.40)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--min-size", type=int, default=2)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--named", type=int, default=1000)
    parser.add_argument("--recall-queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="where the float16 vectors go")
    parser.add_argument("--out", help="append one JSON line per size here")
    parser.add_argument(
        "--database",
        help="run the production path (full_run, assign) on this database URL instead; "
        "'{tmp}' is a temporary folder, e.g. sqlite:///{tmp}/bench.db",
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child: one size, its result as the last line
        if args.database:
            result = run_database(args.sizes[0], args.database, args)
        else:
            result = run_size(args.sizes[0], args)
        print(json.dumps(result), flush=True)
        return
    print(f"faiss {faiss.__version__}, {args.threads} threads", flush=True)
    for n in args.sizes:
        child = [sys.executable, __file__, "--one", "--sizes", str(n)]
        for name in ("lfw_embeddings", "threshold", "k", "min_size", "new", "named"):
            child += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
        child += ["--recall-queries", str(args.recall_queries), "--threads", str(args.threads)]
        child += ["--seed", str(args.seed)] + (["--workdir", args.workdir] if args.workdir else [])
        child += ["--database", args.database] if args.database else []
        with subprocess.Popen(child, stdout=subprocess.PIPE, text=True) as proc:
            lines = []
            for line in proc.stdout:  # the child's progress as it comes
                lines.append(line)
                if line.startswith("#"):
                    print(line, end="", flush=True)
        if proc.returncode:
            sys.exit(f"size {n} failed (exit {proc.returncode})")
        result = json.loads(lines[-1])
        print(json.dumps(result), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
