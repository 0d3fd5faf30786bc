"""Job routes refuse an id that is not exactly a job id."""

import pytest

ID = "0b8e3c1e-8a4e-4f0e-9a57-3f1c2d4e5f60"


@pytest.mark.parametrize("route", ["/status/{}", "/result/{}"])
def test_an_id_with_a_trailing_newline_is_a_400(offline_client, route):
    """Refused before the store is asked (the offline client's store would answer 503)."""
    response = offline_client.simulate_get(route.format(ID + "%0A"))
    assert response.status_code == 400, response.text
    assert response.json["title"] == "Invalid job id"
