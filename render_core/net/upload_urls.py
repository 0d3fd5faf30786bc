"""Recognising the input URLs of client uploads (``POST /uploads``) in job parameters.

An upload's input URL is a presigned GET of ``<bucket>/uploads/...`` on our own object
storage (``MINIO_ENDPOINT``, or ``MINIO_PUBLIC_URL`` when set). That endpoint is often on a
private network, which the address policy refuses for user URLs; downloads of upload URLs get
a policy that trusts exactly that host and port. S3 checks the URL's signature, so only
objects the API presigned can be read this way.
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlsplit

from render_core.config.settings import Settings

from .http import AddressPolicy
from .storage import UPLOAD_PREFIX

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _endpoint(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:  # not a URL (an invalid [IPv6] host, a port out of range): not one of ours
        return None
    return parts.scheme, parts.hostname.lower().rstrip("."), port


class UploadUrls:
    """Parameters:
      settings: the storage endpoint(s) and bucket.
    """

    def __init__(self, settings: Settings):
        self.bucket = settings.minio_bucket
        scheme = "https" if settings.minio_secure else "http"
        candidates = [f"{scheme}://{settings.minio_endpoint}"]
        if settings.minio_public_url:
            public = settings.minio_public_url
            candidates.append(public if "://" in public else f"https://{public}")
        self.endpoints = {e for e in map(_endpoint, candidates) if e is not None}

    def object_of(self, url: str) -> str | None:
        """The object name (``uploads/...``) a URL points at on our storage, or None."""
        if not isinstance(url, str) or _endpoint(url) not in self.endpoints:
            return None
        path = unquote(urlsplit(url).path)
        prefix = f"/{self.bucket}/"
        if not path.startswith(prefix):
            return None
        name = path[len(prefix):]
        if not name.startswith(UPLOAD_PREFIX) or posixpath.normpath(name) != name:
            return None
        return name

    def policy(self, base: AddressPolicy) -> AddressPolicy:
        """``base`` with our storage endpoints trusted (for downloading upload URLs only)."""
        pairs = frozenset((host, port) for _, host, port in self.endpoints)
        return AddressPolicy(allow_loopback=base.allow_loopback, allow_private=base.allow_private,
                             trusted_endpoints=pairs)
