"""The ``cluster`` job: a full run over the gallery of ``context`` (anything with
``database`` and ``settings``, e.g. the library), one at a time per gallery."""

from __future__ import annotations

from likeness.clustering.run import full_run
from likeness.clustering.store import ClusterStore
from likeness.jobs import task

KIND = "cluster"


@task(KIND)
def run_clustering(context, params: dict, progress) -> dict:
    settings = context.settings
    report = full_run(
        ClusterStore(context.database),
        threshold=float(params.get("threshold", settings.cluster_threshold)),
        k=settings.cluster_k,
        min_size=settings.cluster_min_size,
        progress=progress,
    )
    return report.as_dict()
