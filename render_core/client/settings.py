"""The environment variables of the ``c3-render`` job commands (they run where the user is,
not in the service), declared for the README's configuration table."""

from render_core.sdk.setting import Setting

DEFAULT_URL = "http://127.0.0.1:5000"

URL = Setting("C3_RENDER_URL", DEFAULT_URL, "API base URL the job commands talk to (--url)")
KEY = Setting("C3_RENDER_API_KEY", "", "API key the job commands send (--key)", secret=True)

SETTINGS = (URL, KEY)
