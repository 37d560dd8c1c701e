"""``/api/clusters``: the people clustering found, naming them, and full runs as
background jobs (``202`` with the job; progress at ``/api/jobs/<id>``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as SchemaError

from likeness.api.auth import actor, requires
from likeness.api.openapi import document
from likeness.api.routes_gallery import library
from likeness.api.routes_jobs import JobResponse, accepted
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


class ClusterMerge(Schema):
    other = fields.Integer(required=True, metadata={"description": "the cluster that joins"})


class ClusterSplit(Schema):
    face_ids = fields.List(
        fields.Integer(), required=True, validate=validate.Length(min=1, max=10_000)
    )


class ClusterRecluster(Schema):
    threshold = fields.Float(
        required=True,
        validate=validate.Range(min=-1, max=1, min_inclusive=False, max_inclusive=False),
        metadata={"description": "tighter than the run's (e.g. 0.5 where runs use 0.4)"},
    )


class ReclusterResponse(Schema):
    kept = fields.Nested(ClusterDetail)
    new_clusters = fields.List(fields.Nested(ClusterDetail))


class FaceMove(Schema):
    person_id = fields.Integer(required=True)


class FaceLeft(Schema):
    face_id = fields.Integer()
    person_id = fields.Integer(allow_none=True, metadata={"description": "its person now"})
    left = fields.Integer(allow_none=True, metadata={"description": "the person it left"})


class ClusterRun(Schema):
    threshold = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=-1, max=1, min_inclusive=False, max_inclusive=False),
    )


_list, _query, _detail, _cluster = (
    ClusterListResponse(),
    ClusterListQuery(),
    ClusterDetail(),
    ClusterSchema(),
)
_name, _run, _job = ClusterName(), ClusterRun(), JobResponse()
_merge, _split, _move, _left = ClusterMerge(), ClusterSplit(), FaceMove(), FaceLeft()


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
    summary="Name a cluster (it keeps its id and name across runs; names are unique)",
    json_body=ClusterName,
    response=ClusterResponse,
    errors=(404, 409, 415),
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
    return accepted(library().cluster(wait=False, threshold=body["threshold"], created_by=actor()))


@bp.post("/clusters/<int:cluster_id>/merge")
@requires("write")
@document(
    summary="Merge another cluster into this one (this one's id stays)",
    json_body=ClusterMerge,
    response=ClusterDetail,
    errors=(404, 415),
)
def merge_clusters(cluster_id: int):
    body = _load(_merge, json_object())
    return jsonify(_detail.dump(library().merge_clusters(cluster_id, body["other"])))


@bp.post("/clusters/<int:cluster_id>/split")
@requires("write")
@document(
    summary="Split chosen faces off into a new cluster",
    json_body=ClusterSplit,
    response=ClusterDetail,
    status=201,
    errors=(404, 415),
)
def split_cluster(cluster_id: int):
    body = _load(_split, json_object())
    return jsonify(_detail.dump(library().split_cluster(cluster_id, body["face_ids"]))), 201


@bp.post("/clusters/<int:cluster_id>/recluster")
@requires("write")
@document(
    summary="Split a cluster by re-clustering it at a tighter threshold",
    json_body=ClusterRecluster,
    response=ReclusterResponse,
    errors=(404, 415),
)
def recluster(cluster_id: int):
    body = _load(ClusterRecluster(), json_object())
    return jsonify(ReclusterResponse().dump(library().recluster(cluster_id, body["threshold"])))


@bp.post("/faces/<int:face_id>/move")
@requires("write")
@document(
    summary="Put a face in a person or cluster (runs never move it back)",
    json_body=FaceMove,
    response=FaceLeft,
    errors=(404, 415),
)
def move_face(face_id: int):
    body = _load(_move, json_object())
    lib = library()
    left = lib.cluster_of(face_id)
    lib.move_face(face_id, body["person_id"])
    return jsonify(_left.dump({"face_id": face_id, "person_id": body["person_id"], "left": left}))


@bp.post("/faces/<int:face_id>/not-this-person")
@requires("write")
@document(
    summary="Not this person: the face leaves it, and never joins it again",
    response=FaceLeft,
    errors=(404,),
)
def not_this_person(face_id: int):
    left = library().not_this_person(face_id)
    return jsonify(_left.dump({"face_id": face_id, "person_id": None, "left": left}))
