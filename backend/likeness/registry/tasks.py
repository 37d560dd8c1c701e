"""The ``model_switch`` job: re-embed the gallery under a model version, then make
it the active one in one transaction (``likeness.gallery.reembed``). ``context``
is the library (``database``, ``settings``, ``store``, ``model``)."""

from __future__ import annotations

import logging
import os

from likeness.engine import FaceEngine
from likeness.errors import ModelError, ModelNotActivatableError
from likeness.gallery import reembed
from likeness.jobs import task
from likeness.learning.thresholds import ThresholdBook

KIND = "model_switch"
log = logging.getLogger(__name__)


def _adopt_gate_thresholds(database, settings, version, key: str) -> dict | None:
    """A version with no thresholds of its own gets the gate's: the parent's
    operating points (the same FMR) moved to its scores."""
    mapped = ((version.metrics or {}).get("gate") or {}).get("thresholds") or {}
    values = {k: v.get("candidate") for k, v in mapped.items() if k in ("verify", "search")}
    values = {k: v for k, v in values.items() if v is not None}
    book = ThresholdBook(database, settings, version.pack, key, 0)
    if not values or book.latest() is not None:
        return None
    made = book.adopt(
        **values,
        source={"gate": version.id, "rule": "the parent's FMR at each threshold"},
        note=f"from the fine-tuning gate of {version.id}",
        created_by="model switch",
    )
    return made.as_dict()


def switch_to(database, settings, store, registry, version_id: str, force: bool,
              progress=None) -> dict:  # fmt: skip
    """Re-embed the gallery of ``store`` under ``version_id`` and make it active.
    Needs no model of its own in service: it also repairs a service whose active
    version's file went missing (``likeness models rollback`` / ``activate``)."""
    version = registry.get(version_id)
    registry.check_activatable(version, force)
    # a background job of one process at a time: it may use every core (a process
    # serving requests otherwise gets cores / workers); an explicit setting wins
    if not settings.intra_op_threads:
        settings = settings.model_copy(update={"intra_op_threads": os.cpu_count() or 1})
    try:
        engine = FaceEngine(settings, recognizer=registry.resolve(version))
    except ModelError as error:  # the full message (with server paths) goes to the log
        log.error("model version cannot be loaded", extra={"version": version.id,
                                                             "error": error.message})  # fmt: skip
        raise ModelNotActivatableError(
            f"The file of {version.id} is missing or altered (the server log says more)."
        ) from None
    dim = store.dimension()
    if dim is not None and engine.recognizer.dim != dim:
        raise ModelNotActivatableError(
            f"{version.id} makes {engine.recognizer.dim}-value embeddings, the gallery's "
            f"have {dim}."
        )
    key = engine.version  # what its embeddings will record
    old = store.position().model_version
    staged = {"reembedded": 0, "without_crop": 0}
    if old is not None and old != key:
        with store.db.session() as session:
            _, without_crop = reembed.count_missing(session, key)
        if without_crop:
            raise ModelNotActivatableError(
                f"{without_crop} gallery faces have no stored crop to re-embed under the "
                "new model; re-index their photos or remove them first."
            )
        staged = reembed.stage(store, key, engine.embed_aligned, progress)
    thresholds = _adopt_gate_thresholds(database, settings, version, key)
    change = reembed.switch(
        store, old, key, engine.embed_aligned,
        also=lambda session: registry.mark_active(session, version.id),
    )  # fmt: skip
    result = {
        "version": version.id,
        "previous_version": registry.get(version.id).previous_id,
        "generation": change.generation,
        "thresholds_adopted": thresholds,
        **staged,
    }
    if (
        thresholds is None
        and ThresholdBook(database, settings, version.pack, key, 0).latest() is None
    ):
        result["note"] = (
            "this version has no thresholds of its own: the pack's defaults apply "
            "(`likeness calibrate` sets them)"
        )
    return result


@task(KIND)
def run_switch(context, params: dict, progress) -> dict:
    registry = context.model.registry
    result = switch_to(
        context.database, context.settings, context.store, registry,
        params["version_id"], bool(params.get("force")), progress,
    )  # fmt: skip
    context.model.follow(force=True)  # this process serves it at once; others follow
    return result
