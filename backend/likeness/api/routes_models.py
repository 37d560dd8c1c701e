"""``/api/models``: what runs (pack, files, providers, checks) and which model
version is active; the registered versions with their model cards; activating a
version or rolling back (admin, background jobs: ``202`` with the job)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from marshmallow import Schema, fields

from likeness.api.auth import actor, requires
from likeness.api.openapi import document
from likeness.api.routes_gallery import _load, library
from likeness.api.routes_jobs import JobResponse, accepted
from likeness.api.schemas import ModelsResponse
from likeness.api.state import loaded
from likeness.api.uploads import json_object

bp = Blueprint("models", __name__, url_prefix="/api")


class ModelVersionSchema(Schema):
    id = fields.String()
    pack = fields.String()
    parent_id = fields.String(allow_none=True)
    origin = fields.String(metadata={"description": "base (official file) or fine-tuned"})
    sha256 = fields.String(metadata={"description": "what embeddings record as model_version"})
    data_sha256 = fields.String(allow_none=True, metadata={"description": "training data"})
    gate = fields.String(metadata={"description": "passed, refused or none"})
    status = fields.String(metadata={"description": "candidate, active or retired"})
    created_at = fields.String(allow_none=True)
    activated_at = fields.String(allow_none=True)
    previous_id = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)


class ModelVersionDetail(ModelVersionSchema):
    metrics = fields.Dict(metadata={"description": "training and gate measurements"})
    card = fields.String(metadata={"description": "the model card (markdown)"})


class ModelVersionList(Schema):
    active = fields.String(metadata={"description": "id of the active version"})
    versions = fields.List(
        fields.Nested(ModelVersionSchema), metadata={"description": "oldest first"}
    )


class ActivateOptions(Schema):
    force = fields.Boolean(
        load_default=False, metadata={"description": "activate a version the gate did not pass"}
    )


_versions, _detail, _activate = ModelVersionList(), ModelVersionDetail(), ActivateOptions()


@bp.get("/models")
@requires("admin")
@document(
    summary="Model pack, active version, files, thresholds, providers", response=ModelsResponse
)
def models():
    """What this worker runs: the active model version, its files with hashes,
    thresholds, providers, and which face checks run (no server paths)."""
    now = loaded()
    info = {**now.engine.info(public=True), "face_checks": now.gate.info()}
    info.update(threshold=now.thresholds.verify(), search_threshold=now.thresholds.search())
    info["version"] = now.version.as_dict(metrics=False)
    return jsonify(info)


@bp.get("/models/versions")
@requires("admin")
@document(summary="Every registered model version of the pack", response=ModelVersionList)
def list_versions():
    versions = library().list_models()
    active = next((v.id for v in versions if v.status == "active"), None)
    return jsonify(_versions.dump({"active": active, "versions": [v.as_dict() for v in versions]}))


@bp.get("/models/versions/<version_id>")
@requires("admin")
@document(
    summary="A model version: metrics and model card", response=ModelVersionDetail, errors=(404,)
)
def get_version(version_id: str):
    lib = library()
    version = lib.get_model(version_id)
    card = lib.model.registry.card(version)
    return jsonify(_detail.dump({**version.as_dict(), "card": card}))


@bp.post("/models/versions/<version_id>/activate")
@requires("admin")
@document(
    summary="Re-embed the gallery under a version and switch every worker to it (a job)",
    json_body=ActivateOptions,
    response=JobResponse,
    status=202,
    errors=(404, 409, 415),
)
def activate_version(version_id: str):
    body = _load(_activate, json_object() if request.get_data() else {})
    record = library().activate_model(
        version_id, force=body["force"], wait=False, created_by=actor()
    )
    return accepted(record)


@bp.post("/models/rollback")
@requires("admin")
@document(
    summary="Switch back to the version active before this one (a job)",
    response=JobResponse,
    status=202,
    errors=(409,),
)
def rollback():
    return accepted(library().rollback_model(wait=False, created_by=actor()))
