"""Request bodies the API tests send."""

from __future__ import annotations

import io


def upload(*paths, **fields) -> dict:
    """Test-client keyword arguments for a multipart form: the files as ``image``
    (several allowed), the other fields as text."""
    data = {"image": [(io.BytesIO(p.read_bytes()), p.name) for p in paths]}
    data.update(fields)
    return {"data": data, "content_type": "multipart/form-data"}
