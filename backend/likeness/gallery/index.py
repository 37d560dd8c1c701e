"""The vector index of the gallery: FAISS inner product on unit embeddings.

Two kinds, chosen by size (``Settings.gallery_exact_max``):

* ``flat``: exact search, ``IndexIDMap2(IndexFlatIP)``; removal is physical.
* ``hnsw``: approximate search, ``IndexHNSWFlat`` with our own id map. HNSW cannot
  drop nodes, so a removed face's stored vector is overwritten with zeros at once
  (the embedding is gone from memory and from the next saved file: right to
  erasure) and its node is filtered out of every search; the graph is rebuilt when
  the removed share passes ``rebuild_deleted_fraction``.

The index is saved as ONE file (index bytes, id map, tombstones and the metadata
``{"generation", "count", "max_id", ...}`` describing the database state it
reflects), written to a temporary file, fsynced and moved into place with
``os.replace``, so a reader sees either the old or the new file, never half of one.
"""

from __future__ import annotations

import io
import json
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from likeness.errors import IndexNotFoundError
from likeness.settings import Settings

FORMAT = 2  # 2: metadata carries the gallery instance; files of format 1 are rebuilt


def _default(name: str):
    """A setting's default: the one place such numbers live is ``Settings``."""
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class IndexConfig:
    dim: int = 512
    exact_max: int = _default("gallery_exact_max")
    hnsw_m: int = _default("gallery_hnsw_m")
    ef_construction: int = _default("gallery_hnsw_ef_construction")
    ef_search: int = _default("gallery_hnsw_ef_search")
    rebuild_deleted_fraction: float = _default("gallery_rebuild_deleted_fraction")
    codes: str = _default("gallery_index_codes")  # hnsw vectors: float32 or float16

    @classmethod
    def from_settings(cls, settings, dim: int = 512) -> IndexConfig:
        return cls(
            dim=dim,
            exact_max=settings.gallery_exact_max,
            hnsw_m=settings.gallery_hnsw_m,
            ef_construction=settings.gallery_hnsw_ef_construction,
            ef_search=settings.gallery_hnsw_ef_search,
            rebuild_deleted_fraction=settings.gallery_rebuild_deleted_fraction,
            codes=settings.gallery_index_codes,
        )


def _as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    matrix = np.asarray(vectors, np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"vectors of shape {matrix.shape} do not fit an index of {dim} values")
    return np.ascontiguousarray(matrix)


class VectorIndex:
    """Face id -> unit vector, searchable by inner product. Thread-safe."""

    def __init__(self, config: IndexConfig, kind: str | None = None) -> None:
        self.config = config
        self.kind = kind or "flat"
        self.meta: dict = {}
        self._lock = threading.RLock()
        self._reset()

    # -- construction ----------------------------------------------------------
    def _reset(self) -> None:
        dim = self.config.dim
        if self.kind == "flat":
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif self.kind == "hnsw" and self.config.codes == "float16":
            index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, self.config.hnsw_m,
                                      faiss.METRIC_INNER_PRODUCT)  # fmt: skip
            index.hnsw.efConstruction = self.config.ef_construction
            self._index = index
        elif self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.config.ef_construction
            self._index = index
        else:
            raise ValueError(f"unknown index kind {self.kind!r}")
        self._labels = np.zeros(0, np.int64)  # hnsw: internal position -> face id
        self._deleted: set[int] = set()  # hnsw: internal positions of removed faces
        self._params = None

    def reset(self, kind: str | None = None) -> None:
        """Empty the index (of ``kind``, default the same); the metadata stays."""
        with self._lock:
            if kind is not None:
                self.kind = kind
            self._reset()

    @property
    def codes(self) -> str:
        """How the vectors are held: float32, or float16 (HNSW with that setting)."""
        return self.config.codes if self.kind == "hnsw" else "float32"

    def kind_for(self, count: int) -> str:
        return "flat" if count <= self.config.exact_max else "hnsw"

    @classmethod
    def build(cls, config: IndexConfig, ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
        """A fresh index of the right kind for ``len(ids)`` vectors."""
        index = cls(config, "flat" if len(ids) <= config.exact_max else "hnsw")
        index.add(ids, vectors)
        return index

    # -- content ---------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        with self._lock:
            if self.kind == "flat":
                return int(self._index.ntotal)
            return int(self._index.ntotal) - len(self._deleted)

    def __len__(self) -> int:
        return self.ntotal

    def ids(self) -> np.ndarray:
        """Every live face id (sorted)."""
        with self._lock:
            if self.kind == "flat":
                return np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64))
            if not self._deleted:
                return np.sort(self._labels.copy())
            live = np.ones(len(self._labels), bool)
            live[list(self._deleted)] = False
            return np.sort(self._labels[live])

    def contains(self, ids) -> np.ndarray:
        """A boolean mask: which of ``ids`` are live in the index."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        with self._lock:
            if self.kind == "flat":
                present = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            elif self._deleted:
                live = np.ones(len(self._labels), bool)
                live[list(self._deleted)] = False
                present = self._labels[live]
            else:
                present = self._labels
            return np.isin(ids, present)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every live face, for a rebuild."""
        with self._lock:
            if self.kind == "flat":
                ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
                flat = faiss.downcast_index(self._index.index)
                xb = faiss.rev_swig_ptr(flat.get_xb(), len(ids) * self.config.dim)
                return ids, np.array(xb, np.float32).reshape(len(ids), self.config.dim)
            n = int(self._index.ntotal)
            xb = self._index.storage.reconstruct_n(0, n) if n else np.zeros((0, self.config.dim))
            xb = np.asarray(xb, np.float32).reshape(n, self.config.dim)
            live = np.ones(n, bool)
            if self._deleted:
                live[list(self._deleted)] = False
            return self._labels[live].copy(), xb[live]

    def add(self, ids, vectors) -> None:
        ids = np.ascontiguousarray(np.asarray(ids, np.int64).reshape(-1))
        if not len(ids):
            return
        matrix = _as_matrix(vectors, self.config.dim)
        with self._lock:
            if self.kind == "flat":
                self._index.add_with_ids(matrix, ids)
            else:
                self._index.add(matrix)
                self._labels = np.concatenate([self._labels, ids])
            self._params = None

    def remove(self, ids) -> int:
        """Remove faces (unknown ids are ignored); returns how many were present."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        if not len(ids):
            return 0
        with self._lock:
            if self.kind == "flat":
                return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
            xb = self._stored()  # a view on FAISS memory
            # positions of these ids (no per-face Python dict: 1M faces would cost ~100 MB)
            hit = np.isin(self._labels, ids)
            if self._deleted:
                hit[list(self._deleted)] = False
            positions = np.flatnonzero(hit)
            xb[positions] = 0  # the embeddings themselves are erased now (0.0 in both codes)
            self._deleted.update(positions.tolist())
            removed = len(positions)
            self._params = None
            return removed

    def _stored(self) -> np.ndarray:
        """The HNSW storage's rows as a writable view on FAISS memory: float32
        vectors, or the float16 codes as raw bytes (caller holds the lock)."""
        storage = faiss.downcast_index(self._index.storage)
        n = int(self._index.ntotal)
        if isinstance(storage, faiss.IndexScalarQuantizer):
            size = int(storage.code_size)
            return faiss.rev_swig_ptr(storage.codes.data(), n * size).reshape(n, size)
        return faiss.rev_swig_ptr(storage.get_xb(), n * self.config.dim).reshape(n, self.config.dim)

    @property
    def needs_rebuild(self) -> bool:
        """True when the kind no longer suits the size, or too many tombstones."""
        with self._lock:
            count = self.ntotal
            if self.kind == "flat":
                return count > self.config.exact_max
            if count <= self.config.exact_max * 0.8:  # hysteresis: no flapping at the edge
                return True
            total = max(1, int(self._index.ntotal))
            return len(self._deleted) / total > self.config.rebuild_deleted_fraction

    def rebuilt(self) -> VectorIndex:
        """A fresh index of the right kind with the same live content and metadata."""
        ids, vectors = self.vectors()
        fresh = VectorIndex.build(self.config, ids, vectors)
        fresh.meta = dict(self.meta)
        return fresh

    # -- search ----------------------------------------------------------------
    def _search_params(self, k: int):
        """HNSW search parameters; the tombstone filter is built once per change
        (caller holds the lock)."""
        if self.kind == "flat":
            return None
        ef = max(self.config.ef_search, k)
        if self._params is None or self._params.efSearch != ef:
            if self._deleted:
                removed = faiss.IDSelectorBatch(np.fromiter(self._deleted, np.int64))
                selector = faiss.IDSelectorNot(removed)
                params = faiss.SearchParametersHNSW(efSearch=ef, sel=selector)
                params._refs = (removed, selector)  # keep the C++ objects alive
            else:
                params = faiss.SearchParametersHNSW(efSearch=ef)
            self._params = params
        return self._params

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, face ids) of the ``k`` nearest faces of each query; missing
        neighbours have id -1."""
        matrix = _as_matrix(queries, self.config.dim)
        with self._lock:
            k = max(1, min(int(k), max(1, self.ntotal)))
            if self.ntotal == 0:
                return (
                    np.full((len(matrix), k), -np.inf, np.float32),
                    np.full((len(matrix), k), -1, np.int64),
                )
            params = self._search_params(k)
            if params is None:
                scores, found = self._index.search(matrix, k)
                return scores, found.astype(np.int64)
            scores, positions = self._index.search(matrix, k, params=params)
            ids = np.where(positions >= 0, self._labels[np.maximum(positions, 0)], -1)
            return scores, ids.astype(np.int64)

    # -- persistence -----------------------------------------------------------
    def to_bytes(self) -> bytes:
        with self._lock:
            header = {"format": FORMAT, "kind": self.kind, "meta": self.meta,
                      "codes": self.codes}  # fmt: skip
            buffer = io.BytesIO()
            np.savez(
                buffer,
                header=np.frombuffer(json.dumps(header).encode(), np.uint8),
                index=faiss.serialize_index(self._index),
                labels=self._labels,
                deleted=np.fromiter(sorted(self._deleted), np.int64, len(self._deleted)),
            )
            return buffer.getvalue()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically: temporary file in the same folder, fsync, os.replace."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_bytes()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        try:  # make the rename itself durable
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass

    @staticmethod
    def read_meta(path: str | os.PathLike[str]) -> dict | None:
        """The metadata of a saved index (only its small header is read), or None."""
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(bytes(data["header"]).decode())
        except (OSError, ValueError, KeyError):
            return None
        return header.get("meta") if header.get("format") == FORMAT else None

    @classmethod
    def load(cls, path: str | os.PathLike[str], config: IndexConfig) -> VectorIndex:
        """A saved index; ``IndexNotFoundError`` when there is none or it cannot serve
        this config (unknown format, other dimension, unreadable): rebuild then."""
        path = Path(path)
        if not path.is_file():
            raise IndexNotFoundError(f"No saved index at {path}.")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(bytes(data["header"]).decode())
                if header.get("format") != FORMAT:
                    raise IndexNotFoundError(f"{path} has another format ({header.get('format')}).")
                index = cls(config, header["kind"])
                index._index = faiss.deserialize_index(data["index"])
                index.meta = header.get("meta", {})
                if index._index.d != config.dim:
                    raise IndexNotFoundError(
                        f"{path} holds {index._index.d}-value vectors; {config.dim} are needed."
                    )
                if index.kind == "hnsw" and header.get("codes", "float32") != config.codes:
                    raise IndexNotFoundError(
                        f"{path} holds {header.get('codes', 'float32')} vectors; "
                        f"{config.codes} are configured."
                    )
                if index.kind == "hnsw":
                    index._index.hnsw.efSearch = config.ef_search
                    index._labels = data["labels"].astype(np.int64)
                    index._deleted = set(data["deleted"].tolist())
        except IndexNotFoundError:
            raise
        except Exception as exc:  # a damaged file is rebuilt from the database
            raise IndexNotFoundError(f"{path} cannot be read ({exc}).") from exc
        return index
