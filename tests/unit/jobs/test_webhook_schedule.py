import pytest

from render_core.config.settings import Settings, SettingsError
from render_core.jobs.webhook_schedule import DEFAULT_DELAYS, WebhookSchedule


def schedule(**env):
    return WebhookSchedule.from_settings(Settings.from_env(env))


def test_default_starts_like_the_original_then_backs_off_past_a_ten_minute_outage():
    default = schedule()
    assert default.delays == DEFAULT_DELAYS
    offsets = default.offsets()
    assert offsets[:5] == [0, 5, 10, 15, 20]                  # the original: 5 attempts 5 s apart
    assert all(b >= a for a, b in zip(default.delays[4:], default.delays[5:]))
    # a receiver down for 10 minutes (or 2 hours) from the first attempt still gets one attempt after
    assert any(at > 600 for at in offsets) and offsets[-1] > 7200
    assert default.delay_after(1) == 5 and default.delay_after(default.attempts) is None


def test_original_variables_keep_their_meaning_when_set():
    assert schedule(WEBHOOK_ATTEMPTS="3", WEBHOOK_INTERVAL="0.3").delays == (0.3, 0.3)
    assert schedule(WEBHOOK_ATTEMPTS="2").delays == (5.0,)
    assert schedule(WEBHOOK_INTERVAL="1").delays == (1.0,) * 4
    assert schedule(WEBHOOK_ATTEMPTS="1").attempts == 1


def test_webhook_schedule_replaces_them():
    custom = schedule(WEBHOOK_SCHEDULE="1, 2,4", WEBHOOK_ATTEMPTS="9")
    assert custom.delays == (1.0, 2.0, 4.0) and custom.attempts == 4 and custom.finest() == 1.0


@pytest.mark.parametrize("value", ["abc", "5,-1", ","])
def test_bad_schedule_names_the_variable(value):
    with pytest.raises(SettingsError, match="WEBHOOK_SCHEDULE"):
        Settings.from_env({"WEBHOOK_SCHEDULE": value})
