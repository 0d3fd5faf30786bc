"""Media storage in S3/MinIO: upload a result, hand out a presigned GET URL.

When ``MINIO_PUBLIC_URL`` is set, URLs are signed for that public host with a
second client whose region is given explicitly, so signing never sends a
request to the public host.
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.datatypes import PostPolicy
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from render_core.config.settings import Settings

log = logging.getLogger(__name__)

#: Object-name prefix of client uploads (``POST /uploads``); a bucket lifecycle rule expires them.
UPLOAD_PREFIX = "uploads/"
UPLOAD_RULE_ID = "c3-render-uploads"

#: Content types by suffix for media the tasks produce (mimetypes lacks some).
CONTENT_TYPES = {".mp3": "audio/mpeg", ".mp4": "video/mp4", ".wav": "audio/wav", ".txt": "text/plain",
                 ".json": "application/json", ".png": "image/png", ".jpg": "image/jpeg", ".webm": "video/webm"}


#: Presigned URLs stay valid this long: 7 days, the longest S3 signatures allow.
PRESIGN_EXPIRY = timedelta(days=7)


def content_type_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class Storage:
    """One bucket of results."""

    def __init__(self, settings: Settings):
        self.bucket = settings.minio_bucket
        self.expiry = PRESIGN_EXPIRY
        self.client = Minio(settings.minio_endpoint, access_key=settings.minio_access_key,
                            secret_key=settings.minio_secret_key, secure=settings.minio_secure,
                            region=settings.minio_region)
        self.signer = self.client
        #: Scheme and host of the URLs this storage hands out.
        self.base_url = f"{'https' if settings.minio_secure else 'http'}://{settings.minio_endpoint}"
        if settings.minio_public_url:
            public = urlsplit(settings.minio_public_url if "://" in settings.minio_public_url
                              else f"https://{settings.minio_public_url}")
            self.signer = Minio(public.netloc, access_key=settings.minio_access_key,
                                secret_key=settings.minio_secret_key, secure=public.scheme == "https",
                                region=settings.minio_region)
            self.base_url = f"{public.scheme}://{public.netloc}"

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet."""
        if not self.client.bucket_exists(self.bucket):
            self.client.make_bucket(self.bucket)
            log.info("created bucket %s", self.bucket)

    def upload(self, path: Path, object_name: str, content_type: str | None = None) -> str:
        """Upload ``path`` as ``object_name``; returns a presigned GET URL (valid PRESIGN_EXPIRY)."""
        self.client.fput_object(self.bucket, object_name, str(path),
                                content_type=content_type or content_type_of(path))
        return self.presign(object_name)

    def presign(self, object_name: str) -> str:
        return self.signer.presigned_get_object(self.bucket, object_name, expires=self.expiry)

    def presign_upload(self, object_name: str, content_type: str, max_bytes: int, expires: timedelta) -> dict:
        """Ways for a client to store ``object_name``: a presigned PUT URL and a POST form.

        The POST form's policy pins the key and content type and bounds the size to
        1..``max_bytes`` bytes (S3 refuses a larger body); a PUT cannot carry such a bound,
        so the size of an upload is checked again when a job names it.
        """
        put_url = self.signer.presigned_put_object(self.bucket, object_name, expires=expires)
        policy = PostPolicy(self.bucket, datetime.now(timezone.utc) + expires)
        policy.add_equals_condition("key", object_name)
        policy.add_equals_condition("Content-Type", content_type)
        policy.add_content_length_range_condition(1, max_bytes)
        fields = self.signer.presigned_post_policy(policy)
        fields.update({"key": object_name, "Content-Type": content_type})
        return {"put_url": put_url, "post_url": self.bucket_url(), "post_fields": fields}

    def presign_for(self, object_name: str, expires: timedelta) -> str:
        """A presigned GET URL of ``object_name`` valid ``expires`` (at most 7 days)."""
        return self.signer.presigned_get_object(self.bucket, object_name, expires=expires)

    def bucket_url(self) -> str:
        """The bucket's URL as clients see it (path style)."""
        return f"{self.base_url}/{self.bucket}"

    def object_size(self, object_name: str) -> int | None:
        """Size in bytes of ``object_name``, or None when there is no such object."""
        try:
            return self.client.stat_object(self.bucket, object_name).size
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return None
            raise

    def ensure_upload_expiry(self, days: int) -> None:
        """Expire objects under ``uploads/`` ``days`` days after upload (a bucket lifecycle rule).

        Other rules of the bucket are kept. An S3 server without lifecycle support logs a warning.
        """
        try:
            current = self.client.get_bucket_lifecycle(self.bucket)
            rules = [r for r in (current.rules if current else []) if r.rule_id != UPLOAD_RULE_ID]
            rules.append(Rule(ENABLED, rule_filter=Filter(prefix=UPLOAD_PREFIX), rule_id=UPLOAD_RULE_ID,
                              expiration=Expiration(days=days)))
            self.client.set_bucket_lifecycle(self.bucket, LifecycleConfig(rules))
        except S3Error as exc:
            log.warning("could not set the expiry of uploads (lifecycle rule on %s%s): %s",
                        self.bucket, "/" + UPLOAD_PREFIX, exc)

    def remove(self, object_name: str) -> None:
        self.client.remove_object(self.bucket, object_name)

    def ping(self) -> None:
        """Raise when the S3 server cannot be reached or the credentials are refused."""
        self.client.bucket_exists(self.bucket)
