"""The API keeps its OpenAPI document: schemathesis against a real gunicorn API, every check, fixed seed.

The API here has its own Redis and no worker, so the jobs it queues are never run
(no input URL is fetched, no webhook sent) and the run is the same every time.
Every operation is tested in the examples, coverage and fuzzing phases, in positive
and negative mode, then the stateful phase follows the document's links
(queue a job, read its status and result, update it).
"""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from render_api.openapi import build_document
from render_core.devtools.devservices import RedisServer
from render_core.sdk.registry import load_registry
from support.stack import start_api, stop

pytestmark = pytest.mark.slow  # about 40 s in all on 2 cores

API_KEY = "contract-test-key"
SEED = 20250611
MAX_EXAMPLES = 75  # per operation in the fuzzing phase; the coverage phase adds its own cases
MIN_CASES = 1000

CONFIG = {
    "seed": SEED,
    "checks": {
        "enabled": True,
        # Besides the defaults: a schema-valid submit whose Idempotency-Key was used with another body is
        # refused with 422, a state conflict like 409; an upload size over the documented maximum gets 413.
        "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422",
                                                           "429", "5xx"]},
        "negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413",
                                                          "415", "422", "428", "429", "5xx"]},
    },
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
               "stateful": {"enabled": True}},
    "generation": {"mode": "all", "deterministic": True, "max-examples": MAX_EXAMPLES, "database": "none",
                   "with-security-parameters": False},
}
#: The document the API serves, built in this process (a test checks that they are equal).
DOCUMENT = build_document(load_registry())
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))
CASES: dict[str, int] = {}


@schema.auth()
class ApiKey:
    """The API key, sent by every case; the ignored_auth check also sends none and a wrong one."""

    def get(self, case, context):
        return API_KEY

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "X-C3-RENDER-KEY": data}


@pytest.fixture(scope="module")
def contract_api(stack_env, services_dir):
    """A gunicorn API with an API key, on a Redis of its own that no worker reads."""
    with RedisServer(services_dir / "contract-redis") as redis:
        env = {**stack_env, "REDIS_URL": redis.url, "C3_RENDER_API_KEY": API_KEY}
        process, url = start_api(env, services_dir / "contract-api.log")
        schema.config.update(base_url=url)
        yield url
        stop(process)


def test_the_api_serves_the_document_under_test(contract_api):
    assert requests.get(f"{contract_api}/openapi.json", timeout=5).json() == json.loads(json.dumps(DOCUMENT))


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_every_operation_keeps_the_document(case, contract_api):
    CASES[case.operation.label] = CASES.get(case.operation.label, 0) + 1
    case.call_and_validate(base_url=contract_api)


def test_links_between_operations_keep_the_document(contract_api):
    schema.as_state_machine().run(settings=settings(
        max_examples=30, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck),
        stateful_step_count=6))


def test_the_run_covered_every_operation_with_enough_cases():
    operations = {result.ok().label for result in schema.get_all_operations()}
    if not operations <= set(CASES):
        pytest.skip("run the whole module: the property test did not run for every operation")
    total = sum(CASES.values())
    print(f"schemathesis: {total} cases over {len(operations)} operations: {dict(sorted(CASES.items()))}")
    assert total >= MIN_CASES


def test_malformed_bodies_are_json_400_through_gunicorn(contract_api):
    auth = {"X-C3-RENDER-KEY": API_KEY, "Content-Type": "application/json"}
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"text": "hi", "\\ud800": 1}'):
        answer = requests.post(f"{contract_api}/csm", data=raw, headers={**auth, "Accept": "text/html"}, timeout=10)
        assert answer.status_code == 400, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["title"] == "Invalid request"
