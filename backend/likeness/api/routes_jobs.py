"""``/api/jobs``: the state and progress of long work (clustering runs and the
like), the same for every kind and every runner."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as SchemaError

from likeness.api.auth import requires
from likeness.api.openapi import document
from likeness.api.routes_gallery import library
from likeness.api.uploads import _schema_error

bp = Blueprint("jobs", __name__, url_prefix="/api")


class JobProgressSchema(Schema):
    done = fields.Integer()
    total = fields.Integer(allow_none=True)
    fraction = fields.Float(allow_none=True)


class JobSchema(Schema):
    id = fields.String()
    kind = fields.String()
    state = fields.String(metadata={"description": "queued, running, succeeded or failed"})
    progress = fields.Nested(JobProgressSchema)
    message = fields.String(allow_none=True)
    result = fields.Dict(allow_none=True)
    error = fields.Dict(allow_none=True, metadata={"description": "{code, message}"})
    params = fields.Dict(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)


class JobResponse(JobSchema):
    """One job (a schema of its own: ``JobSchema`` is also nested in the list)."""


class JobListResponse(Schema):
    jobs = fields.List(fields.Nested(JobSchema))


class JobListQuery(Schema):
    kind = fields.String(load_default=None, validate=validate.Regexp(r"^[a-z0-9_.:-]{1,64}$"))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


_job, _jobs, _query = JobResponse(), JobListResponse(), JobListQuery()


def accepted(record):
    """The answer of a route that started a job: ``202``, the job, its address."""
    response = jsonify(_job.dump(record.as_dict()))
    response.headers["Location"] = f"/api/jobs/{record.id}"
    return response, 202


@bp.get("/jobs")
@requires("write")
@document(summary="Recent jobs, newest first", query=JobListQuery, response=JobListResponse)
def list_jobs():
    try:
        query = _query.load(request.args.to_dict())
    except SchemaError as error:
        raise _schema_error(error) from None
    jobs = library().list_jobs(query["kind"], query["limit"])
    return jsonify(_jobs.dump({"jobs": [job.as_dict() for job in jobs]}))


@bp.get("/jobs/<job_id>")
@requires("write")
@document(summary="One job: state, progress, result or error", response=JobResponse, errors=(404,))
def get_job(job_id: str):
    return jsonify(_job.dump(library().job(job_id).as_dict()))
