"""Which URLs are uploads on our own storage (and get the storage endpoint trusted)."""

import pytest

from render_core.config.settings import Settings
from render_core.net.http import AddressPolicy
from render_core.net.upload_urls import UploadUrls

SETTINGS = Settings.from_env({"MINIO_ENDPOINT": "minio:9000", "MINIO_BUCKET": "renders",
                              "MINIO_PUBLIC_URL": "https://files.example.com"})


@pytest.mark.parametrize("url, name", [
    ("http://minio:9000/renders/uploads/alice/1/a.wav?X-Amz-Signature=x", "uploads/alice/1/a.wav"),
    ("https://files.example.com/renders/uploads/bob/2/b.png", "uploads/bob/2/b.png"),
    ("https://files.example.com:443/renders/uploads/bob/2/b%20c.png", "uploads/bob/2/b c.png"),
    ("http://minio:9000/renders/results/x.mp3", None),           # not an upload
    ("http://minio:9000/other/uploads/a", None),                 # another bucket
    ("http://minio:9001/renders/uploads/a", None),               # another port
    ("https://minio:9000/renders/uploads/a", None),              # another scheme
    ("http://evil.example.com/renders/uploads/a", None),
    ("http://minio:9000/renders/uploads/../results/x", None),    # no escaping the prefix
    ("not a url", None),
])
def test_object_of(url, name):
    assert UploadUrls(SETTINGS).object_of(url) == name


def test_the_policy_trusts_exactly_the_storage_endpoints():
    policy = UploadUrls(SETTINGS).policy(AddressPolicy())
    assert policy.trusted_endpoints == {("minio", 9000), ("files.example.com", 443)}
    assert policy.for_endpoint("minio", 9000).allow_private
    assert policy.for_endpoint("minio", 9001) is policy and not policy.allow_private
