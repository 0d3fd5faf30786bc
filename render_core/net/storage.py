"""Media storage in S3/MinIO: upload a result, hand out a presigned GET URL.

When ``MINIO_PUBLIC_URL`` is set, URLs are signed for that public host with a
second client whose region is given explicitly, so signing never sends a
request to the public host.
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from minio import Minio

from render_core.config.settings import Settings

log = logging.getLogger(__name__)

#: Content types by suffix for media the tasks produce (mimetypes lacks some).
CONTENT_TYPES = {".mp3": "audio/mpeg", ".mp4": "video/mp4", ".wav": "audio/wav", ".txt": "text/plain",
                 ".json": "application/json", ".png": "image/png", ".jpg": "image/jpeg", ".webm": "video/webm"}


def content_type_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class Storage:
    """One bucket of results."""

    def __init__(self, settings: Settings):
        self.bucket = settings.minio_bucket
        self.expiry = timedelta(seconds=settings.presign_expiry)
        self.client = Minio(settings.minio_endpoint, access_key=settings.minio_access_key,
                            secret_key=settings.minio_secret_key, secure=settings.minio_secure,
                            region=settings.minio_region)
        self.signer = self.client
        if settings.minio_public_url:
            public = urlsplit(settings.minio_public_url if "://" in settings.minio_public_url
                              else f"https://{settings.minio_public_url}")
            self.signer = Minio(public.netloc, access_key=settings.minio_access_key,
                                secret_key=settings.minio_secret_key, secure=public.scheme == "https",
                                region=settings.minio_region)

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet."""
        if not self.client.bucket_exists(self.bucket):
            self.client.make_bucket(self.bucket)
            log.info("created bucket %s", self.bucket)

    def upload(self, path: Path, object_name: str, content_type: str | None = None) -> str:
        """Upload ``path`` as ``object_name``; returns a presigned GET URL (valid ``presign_expiry`` s)."""
        self.client.fput_object(self.bucket, object_name, str(path),
                                content_type=content_type or content_type_of(path))
        return self.presign(object_name)

    def presign(self, object_name: str) -> str:
        return self.signer.presigned_get_object(self.bucket, object_name, expires=self.expiry)

    def remove(self, object_name: str) -> None:
        self.client.remove_object(self.bucket, object_name)

    def ping(self) -> None:
        """Raise when the S3 server cannot be reached or the credentials are refused."""
        self.client.bucket_exists(self.bucket)
