from pathlib import Path

import pytest

from render_core.config.settings import Settings, SettingsError


def test_defaults_match_the_original_service():
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.gpu_idle_timeout == 300
    assert (settings.pre_launch_timeout, settings.pre_launch_timeout_max) == (15, 30)
    assert settings.max_render_time == 1800
    assert settings.render_polling_interval == 5
    assert settings.output_dir == Path("/app/output")
    assert settings.job_ttl == 7 * 24 * 3600


def test_every_original_variable_is_read():
    env = {
        "REDIS_HOST": "redis.internal", "REDIS_PORT": "6380", "MINIO_ENDPOINT": "minio:9000",
        "MINIO_ACCESS_KEY": "ak", "MINIO_SECRET_KEY": "sk", "MINIO_BUCKET": "renders", "MINIO_SECURE": "true",
        "MINIO_PUBLIC_URL": "https://files.example.com", "C3_RENDER_API_KEY": "key", "C3_API_KEY": "c3",
        "OUTPUT_DIR": "/tmp/out", "GPU_IDLE_TIMEOUT": "120", "PRE_LAUNCH_TIMEOUT": "1",
        "PRE_LAUNCH_TIMEOUT_MAX": "2", "MAX_RENDER_TIME": "600", "RENDER_POLLING_INTERVAL": "0.5",
    }
    s = Settings.from_env(env)
    assert s.redis_url == "redis://redis.internal:6380/0"
    assert (s.minio_endpoint, s.minio_access_key, s.minio_secret_key) == ("minio:9000", "ak", "sk")
    assert (s.minio_bucket, s.minio_secure, s.minio_public_url) == ("renders", True, "https://files.example.com")
    assert (s.render_api_key, s.c3_api_key, s.output_dir) == ("key", "c3", Path("/tmp/out"))
    assert (s.gpu_idle_timeout, s.pre_launch_timeout, s.pre_launch_timeout_max) == (120, 1, 2)
    assert (s.max_render_time, s.render_polling_interval) == (600, 0.5)


def test_redis_url_wins_over_host_and_port():
    s = Settings.from_env({"REDIS_URL": "redis://a:1/2", "REDIS_HOST": "b"})
    assert s.redis_url == "redis://a:1/2"


@pytest.mark.parametrize("name,value", [
    ("GPU_IDLE_TIMEOUT", "abc"), ("REDIS_PORT", "x"), ("MINIO_SECURE", "maybe"), ("MAX_RENDER_TIME", "0"),
    ("WEBHOOK_ATTEMPTS", "-1"), ("BROKER_MAINTENANCE_CHANCE", "2000000"),
])
def test_bad_value_names_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_pre_launch_bounds_must_be_ordered():
    with pytest.raises(SettingsError, match="PRE_LAUNCH_TIMEOUT_MAX"):
        Settings.from_env({"PRE_LAUNCH_TIMEOUT": "40"})


def test_settings_are_frozen_and_public_view_hides_secrets():
    s = Settings.from_env({"MINIO_SECRET_KEY": "sk", "C3_RENDER_API_KEY": "k"})
    with pytest.raises(Exception):
        s.minio_secret_key = "other"
    public = s.public()
    assert public["minio_secret_key"] == "***" and public["render_api_key"] == "***"
    assert "sk" not in public.values()


WHSEC_A = "whsec_" + "QUFB" * 8  # 24 bytes of "A"
WHSEC_B = "whsec_" + "QkJC" * 8


def test_webhook_secrets_are_decoded_in_order():
    assert Settings.from_env({}).webhook_keys() == ()
    s = Settings.from_env({"WEBHOOK_SECRET": f" {WHSEC_A}  {WHSEC_B} "})
    assert s.webhook_keys() == (b"A" * 24, b"B" * 24)
    assert s.public()["webhook_secret"] == "***"


@pytest.mark.parametrize("value,reason", [
    ("QUFB" * 8, "does not start with 'whsec_'"),
    ("whsec_not*base64", "not base64"),
    ("whsec_QUFBQQ==", "decodes to 4 bytes"),
    ("whsec_" + "QUFB" * 30, "decodes to 90 bytes"),
    (f"{WHSEC_A} oops", "secret 2 does not start"),
])
def test_bad_webhook_secret_is_named_without_its_value(value, reason):
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET") as caught:
        Settings.from_env({"WEBHOOK_SECRET": value})
    assert reason in str(caught.value)
    assert value not in str(caught.value) and "QUFB" not in str(caught.value)
