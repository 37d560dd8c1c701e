"""The library's clustering methods, mixed into ``FaceRecognitionLibrary`` (which
provides ``database``, ``store``, ``jobs`` and ``_runner``): thin calls into this
package, kept here so the facade stays small."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from likeness.clustering import incremental
from likeness.clustering import tasks as cluster_tasks
from likeness.clustering.graph import knn_edges
from likeness.clustering.methods import threshold_components
from likeness.clustering.store import ClusterStore
from likeness.errors import EmbeddingModelMismatchError, ValidationError
from likeness.gallery.validation import check_name
from likeness.jobs import JobRecord, follow


class ClusteringMixin:
    def cluster(
        self,
        wait: bool = True,
        progress_bar: bool = False,
        threshold: float | None = None,
        created_by: str | None = None,
    ) -> JobRecord:
        """A full clustering run of every usable face, as a job (one at a time per
        gallery: ``JobRunningError`` names the one running). With ``wait`` it returns
        the finished job, whose ``result`` is the run's report."""
        if threshold is not None and not -1 < float(threshold) < 1:
            raise ValidationError("threshold must lie between -1 and 1.", field="threshold")
        params = {} if threshold is None else {"threshold": float(threshold)}
        lock = f"cluster:{self.store.instance() or 'gallery'}"
        record = self.runner.submit(cluster_tasks.KIND, params, lock=lock, created_by=created_by)
        if not wait:
            return record
        if progress_bar:
            return follow(self.jobs, record.id)
        return self.runner.wait(record.id)

    def clusters(self, offset: int = 0, limit: int = 100) -> tuple[list[dict], int]:
        """The people clustering found (persons of origin "auto"), largest first."""
        return ClusterStore(self.database).clusters(offset, limit)

    def get_cluster(self, cluster_id: int) -> dict:
        """One cluster: its person, faces and cohesion (``PersonNotFoundError``)."""
        return ClusterStore(self.database).cluster(cluster_id)

    def cluster_of(self, face_id: int) -> int | None:
        """The person (cluster or enrolled) a face belongs to, None when unassigned."""
        return ClusterStore(self.database).cluster_of(face_id)

    def name_cluster(self, cluster_id: int, name: str) -> dict:
        """Name a cluster; it keeps its id and name across re-clustering."""
        return ClusterStore(self.database).name(cluster_id, check_name(name))

    def export_clusters(self) -> Iterator[dict]:
        """One row per face: face id, image id, source path, cluster id and name."""
        return ClusterStore(self.database).export_rows()

    def merge_clusters(self, keep: int, other: int) -> dict:
        """One person after all: ``other``'s faces join ``keep`` (which keeps its id,
        and takes ``other``'s name if it has none); ``other`` goes."""
        clusters = ClusterStore(self.database)
        clusters.merge(keep, other)
        clusters.refresh([keep])
        return clusters.cluster(keep)

    def split_cluster(self, cluster_id: int, face_ids: Sequence[int]) -> dict:
        """The chosen faces leave the cluster as a new one (returned)."""
        clusters = ClusterStore(self.database)
        new_id = clusters.split(cluster_id, [int(f) for f in face_ids])
        clusters.refresh([cluster_id, new_id])
        return clusters.cluster(new_id)

    def recluster(self, cluster_id: int, threshold: float) -> dict:
        """Split a cluster by re-clustering its usable faces at a tighter
        ``threshold``: the group holding its enrolled faces (else the largest)
        keeps the id; every other group of ``cluster_min_size`` or more faces leaves
        as a new cluster (a user's split, kept by later runs); smaller groups stay.
        Returns ``{"kept": cluster, "new_clusters": [cluster, ...]}``."""
        if not -1 < float(threshold) < 1:
            raise ValidationError("threshold must lie between -1 and 1.", field="threshold")
        clusters = ClusterStore(self.database)
        ids, image, enrolled, vectors = clusters.members(cluster_id)
        edges = knn_edges(vectors, k=self.settings.cluster_k, min_similarity=float(threshold))
        must = [np.flatnonzero(enrolled)] if enrolled.any() else []
        labels = threshold_components(len(ids), edges, float(threshold), groups=image, must=must)
        groups = sorted(
            (np.flatnonzero(labels == label) for label in np.unique(labels)),
            key=lambda g: (not enrolled[g].any(), -len(g), int(g[0])),
        )
        new = [
            self.split_cluster(cluster_id, ids[group].tolist())
            for group in groups[1:]
            if len(group) >= self.settings.cluster_min_size
        ]
        return {"kept": clusters.cluster(cluster_id), "new_clusters": new}

    def move_face(self, face_id: int, person_id: int) -> None:
        """Put a face in a person or cluster; runs never move it back."""
        clusters = ClusterStore(self.database)
        before = clusters.cluster_of(face_id)
        clusters.move(face_id, person_id)
        clusters.refresh([p for p in (before, person_id) if p is not None])

    def not_this_person(self, face_id: int) -> int | None:
        """The face is not the person it was put in: it leaves, and runs never put it
        back there. Returns that person's id."""
        clusters = ClusterStore(self.database)
        left = clusters.exclude(face_id)
        if left is not None:
            clusters.refresh([left])
        return left

    def assign_new_faces(self, face_ids: Sequence[int]):
        """Put newly indexed faces into clusters (``clustering.incremental``) once a
        full run has found anyone; returns what happened, or None when off."""
        clusters = ClusterStore(self.database)
        if not face_ids or not self.settings.cluster_incremental or self.gallery.writer_only:
            # a writer-only process (a Celery worker) has no index to find neighbours
            # in: the faces join clusters at the next run
            return None
        last = next(
            (j for j in self.jobs.list(cluster_tasks.KIND, 20) if j.state == "succeeded"), None
        )
        if last is None and not clusters.has_clusters():
            return None  # never clustered: new faces wait for a first run
        threshold = (last.result or {}).get("threshold") if last is not None else None
        try:
            return incremental.assign(
                clusters,
                self.gallery.neighbours,
                list(face_ids),
                float(threshold if threshold is not None else self.settings.cluster_threshold),
                self.settings.cluster_k,
                self.settings.cluster_min_size,
            )
        except EmbeddingModelMismatchError:
            # the faces are stored (committed); the gallery switched model since, so
            # they wait for the next clustering run instead of failing the write
            return None
