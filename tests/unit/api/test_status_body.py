from render_api.openapi import build_document
from render_api.resources.jobs import webhook_view
from render_core.jobs.store import Job


def job(**fields):
    return Job(id="j", type="echo", status="success", params={}, created_at=0.0, complete_by=60.0, max_time=60.0,
               **fields)


def test_a_retrying_webhook_shows_its_next_attempt_time():
    view = webhook_view(job(webhook="retrying", webhook_attempts=2, webhook_error="receiver answered HTTP 503",
                            webhook_next_at=1_700_000_000.0))
    assert view == {"status": "retrying", "attempts": 2, "error": "receiver answered HTTP 503",
                    "next_attempt_at": "2023-11-14T22:13:20Z"}


def test_a_finished_delivery_has_no_next_attempt():
    view = webhook_view(job(webhook="delivered", webhook_attempts=3, webhook_next_at=None))
    assert view == {"status": "delivered", "attempts": 3}
    assert "next_attempt_at" not in webhook_view(job(webhook="failed", webhook_attempts=13, webhook_next_at=5.0))


def test_openapi_documents_the_status_body_and_webhook_delivery(registry):
    document = build_document(registry)
    status = document["components"]["schemas"]["Status"]
    status_200 = document["paths"]["/status/{job_id}"]["get"]["responses"]["200"]
    assert status_200["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Status"}
    delivery = status["properties"]["webhook"]["properties"]
    assert delivery["status"]["enum"] == ["pending", "retrying", "delivered", "failed"]
    assert delivery["next_attempt_at"]["format"] == "date-time" and "attempts" in delivery
    assert "webhook-id" in status["properties"]["webhook"]["description"]
