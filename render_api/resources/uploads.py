"""``POST /uploads``: a place in object storage for a local input file.

Body ``{"filename", "content_type", "size"}`` (size in bytes, at most ``MAX_UPLOAD_BYTES``).
Answer: ``upload_url`` (presigned PUT, valid ``UPLOAD_URL_EXPIRY`` s; send the file with that
Content-Type), ``upload_form`` (a presigned POST form whose policy enforces the size limit),
and ``input_url`` (a presigned GET any task accepts as its ``*_url``, valid as long as the
upload is kept: ``UPLOAD_EXPIRY_DAYS``). Uploads live under ``uploads/<key name>/`` and a
bucket lifecycle rule deletes them after ``UPLOAD_EXPIRY_DAYS`` days.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import falcon

from render_core.net.storage import UPLOAD_PREFIX
from render_core.sdk.schema import Integer, Schema, String

from ..body import read_json
from ..errors import ApiError
from ..services import ApiServices
from .jobs import principal_of

#: A MIME type: ASCII type/subtype, then optional parameters of printable ASCII.
MIME_PATTERN = "^[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+(?: *;[ -~]*)?$"
UPLOAD_SCHEMA = Schema({
    "filename": String(required=True, min_length=1, max_length=255, description="The file's name (kept as its suffix)."),
    "content_type": String(default="application/octet-stream", max_length=255, pattern=MIME_PATTERN,
                           description="MIME type sent with the upload (type/subtype, optional ; parameters)."),
    "size": Integer(required=True, minimum=1, description="Size of the file in bytes."),
})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: S3 presigned URLs are valid at most 7 days.
MAX_PRESIGN = timedelta(days=7)


def safe_filename(name: str) -> str:
    """The file name's last component with anything but letters, digits, '.', '_', '-' replaced."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._") or "file"
    return cleaned[-100:]


class UploadResource:
    def __init__(self, services: ApiServices):
        self.services = services

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        settings = self.services.settings
        params = UPLOAD_SCHEMA.validate(read_json(req, settings.max_body_bytes))
        if params["size"] > settings.max_upload_bytes:
            raise ApiError(falcon.HTTP_413, "Upload too large",
                           f"size {params['size']} is over the limit of {settings.max_upload_bytes} bytes",
                           errors=[{"field": "size", "message": f"must be at most {settings.max_upload_bytes}"}])
        content_type = params["content_type"]
        owner = principal_of(req).name
        object_name = f"{UPLOAD_PREFIX}{owner}/{uuid.uuid4()}/{safe_filename(params['filename'])}"
        put_expiry = timedelta(seconds=settings.upload_url_expiry)
        keep = min(timedelta(days=settings.upload_expiry_days), MAX_PRESIGN)
        storage = self.services.storage
        try:
            ways = storage.presign_upload(object_name, content_type, settings.max_upload_bytes, put_expiry)
            input_url = storage.presign_for(object_name, keep)
        except Exception as exc:  # signing needs no request, but a bad endpoint setting fails here
            raise ApiError(falcon.HTTP_503, "Service unavailable", f"object storage is not usable: {exc}") from exc
        now = datetime.now(timezone.utc)
        resp.status = falcon.HTTP_201
        resp.media = {
            "upload_url": ways["put_url"], "method": "PUT", "headers": {"Content-Type": content_type},
            "upload_form": {"url": ways["post_url"], "fields": ways["post_fields"]},
            "input_url": input_url, "max_bytes": settings.max_upload_bytes,
            "upload_expires_at": _iso(now + put_expiry), "input_expires_at": _iso(now + keep),
        }


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
