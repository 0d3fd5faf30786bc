import logging

from render_core.config.settings import Settings
from render_core.worker.boot import warn_if_unsigned


def test_unsigned_webhooks_are_warned_about_at_start(caplog):
    with caplog.at_level(logging.WARNING, logger="c3_render.worker"):
        warn_if_unsigned(Settings.from_env({}))
        warn_if_unsigned(Settings.from_env({"WEBHOOK_SECRET": "whsec_" + "QUFB" * 8}))
    assert [r.getMessage() for r in caplog.records] == [
        "WEBHOOK_SECRET is not set: webhooks are sent unsigned and receivers cannot verify them"]
