"""Only failures of the path to a server are transport failures; this side's mistakes are not."""

import pytest
import requests

from render_core.sdk.transport import is_transport_failure


@pytest.mark.parametrize("exc", [
    requests.ConnectionError("refused"), requests.ConnectTimeout("slow"), requests.ReadTimeout("slow"),
    requests.exceptions.ChunkedEncodingError("broken"), requests.exceptions.SSLError("tls"),
    ConnectionResetError("reset"), TimeoutError("timed out"),
])
def test_failures_of_the_path_are_transport_failures(exc):
    assert is_transport_failure(exc)


@pytest.mark.parametrize("exc", [
    requests.exceptions.InvalidHeader("newline in a header"), requests.exceptions.InvalidURL("bad"),
    requests.exceptions.InvalidJSONError("NaN"), UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogate"),
    ValueError("bad value"), OSError("file not found"),
])
def test_mistakes_on_this_side_are_not(exc):
    assert not is_transport_failure(exc)
