"""``/api/clusters``: the people clustering found, naming them, and full runs as
background jobs (``202`` with the job; progress at ``/api/jobs/<id>``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as SchemaError

from likeness.api.auth import actor, requires
from likeness.api.openapi import document
from likeness.api.routes_gallery import library
from likeness.api.routes_jobs import JobResponse
from likeness.api.uploads import _schema_error, json_object

bp = Blueprint("clusters", __name__, url_prefix="/api")


class ClusterSchema(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True, metadata={"description": "null until named"})
    origin = fields.String(metadata={"description": "auto (found) or enrolled"})
    size = fields.Integer()
    representative_face_id = fields.Integer(allow_none=True)
    cohesion = fields.Float(allow_none=True, metadata={"description": "mean cosine to centre"})


class ClusterResponse(ClusterSchema):
    """One cluster (its own schema: ``ClusterSchema`` is also nested in the list)."""


class ClusterDetail(ClusterSchema):
    face_ids = fields.List(fields.Integer())


class ClusterListResponse(Schema):
    clusters = fields.List(fields.Nested(ClusterSchema))
    total = fields.Integer()


class ClusterListQuery(Schema):
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class ClusterName(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))


class ClusterRun(Schema):
    threshold = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=-1, max=1)
    )


_list, _query, _detail, _cluster = (
    ClusterListResponse(),
    ClusterListQuery(),
    ClusterDetail(),
    ClusterSchema(),
)
_name, _run, _job = ClusterName(), ClusterRun(), JobResponse()


def _load(schema: Schema, data) -> dict:
    try:
        return schema.load(data)
    except SchemaError as error:
        raise _schema_error(error) from None


@bp.get("/clusters")
@requires("write")
@document(
    summary="People found by clustering, largest first",
    query=ClusterListQuery,
    response=ClusterListResponse,
)
def list_clusters():
    query = _load(_query, request.args.to_dict())
    clusters, total = library().clusters(query["offset"], query["limit"])
    return jsonify(_list.dump({"clusters": clusters, "total": total}))


@bp.get("/clusters/<int:cluster_id>")
@requires("write")
@document(summary="One cluster with its faces", response=ClusterDetail, errors=(404,))
def get_cluster(cluster_id: int):
    return jsonify(_detail.dump(library().get_cluster(cluster_id)))


@bp.post("/clusters/<int:cluster_id>/name")
@requires("write")
@document(
    summary="Name a cluster (it keeps its id and name across runs)",
    json_body=ClusterName,
    response=ClusterSchema,
    errors=(404, 415),
)
def name_cluster(cluster_id: int):
    body = _load(_name, json_object())
    return jsonify(_cluster.dump(library().name_cluster(cluster_id, body["name"])))


@bp.post("/clusters/run")
@requires("write")
@document(
    summary="Start a full clustering run (a background job)",
    json_body=ClusterRun,
    response=JobResponse,
    status=202,
    errors=(409, 415),
)
def run_clusters():
    body = _load(_run, json_object() if request.get_data() else {})
    record = library().cluster(wait=False, threshold=body["threshold"], created_by=actor())
    response = jsonify(_job.dump(record.as_dict()))
    response.headers["Location"] = f"/api/jobs/{record.id}"
    return response, 202
