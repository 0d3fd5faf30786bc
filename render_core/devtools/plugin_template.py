"""The files of a new task plugin package, written by ``c3-render plugins new``.

Each template is text with the placeholders ``__NAME__`` (task and entry-point
name), ``__PACKAGE__`` (the import package), ``__DISTRIBUTION__`` (the pip name),
``__WORKLOAD__`` (the GPU workload type) and ``__API__`` (the plugin API range).
Templates keyed ``gpu`` replace their CPU counterparts when ``--gpu`` is given.
"""

SETUP_CFG = """\
[metadata]
name = __DISTRIBUTION__
version = 0.1.0
description = C3 Render task plugin: __NAME__
long_description = file: README.md
long_description_content_type = text/markdown

[options]
python_requires = >=3.11
packages = __PACKAGE__
install_requires =
    c3-render

[options.extras_require]
test =
    pytest>=8

[options.entry_points]
c3_render.plugins =
    __NAME__ = __PACKAGE__.plugin
"""

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
"""

INIT = '''\
"""C3 Render task plugin: __NAME__."""
'''

PLUGIN = '''\
"""The entry point of the __NAME__ plugin: the plugin API it supports and the tasks it provides."""

from render_core.plugin import Task, hookimpl

from .schema import SCHEMA
from .task import run

#: The plugin API versions this plugin works with (render_core.plugin.PLUGIN_API_VERSION).
C3_RENDER_PLUGIN_API = "__API__"


@hookimpl
def c3_render_tasks():
    return [Task(name="__NAME__", schema=SCHEMA, run=run, output="text",
                 summary="Upper-case a text (replace with what __NAME__ does)")]
'''

PLUGIN_GPU = '''\
"""The entry point of the __NAME__ plugin: the plugin API it supports and the tasks it provides."""

from render_core.plugin import Task, hookimpl

from .schema import SCHEMA
from .task import run

#: The plugin API versions this plugin works with (render_core.plugin.PLUGIN_API_VERSION).
C3_RENDER_PLUGIN_API = "__API__"


@hookimpl
def c3_render_tasks():
    # workload: the GPU node type leased for each job; with GPU_PROVIDER=local the
    # job runs on the worker's own machine instead (ctx.node.local is True).
    return [Task(name="__NAME__", schema=SCHEMA, run=run, output="text", workload="__WORKLOAD__",
                 summary="Upper-case a text on a GPU node (replace with what __NAME__ does)")]
'''

SCHEMA = '''\
"""The request body of the __NAME__ task: one definition for validation and the OpenAPI document."""

from render_core.plugin import ExactlyOne, Schema, String, Url

SCHEMA = Schema({
    "text": String(min_length=1, max_length=10_000, description="The text to process."),
    "text_url": Url(description="Or the URL of a UTF-8 text file to process."),
}, rules=(ExactlyOne("text", "text_url", message="give either text or text_url, not both"),),
    description="Process a text.")
'''

TASK = '''\
"""What a __NAME__ job does: ``run(ctx, params)`` returns the job's result."""

from render_core.plugin import JobError, TextOutput


def read_text(ctx, params) -> str:
    """The text to work on: the ``text`` field, or the downloaded ``text_url`` file."""
    if params["text"] is not None:
        return params["text"]
    path = ctx.download(params["text_url"])  # size-limited; timed as stage "download"
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise JobError("the file at text_url is not UTF-8 text") from None


def run(ctx, params):
    text = read_text(ctx, params)
    ctx.progress(0.5, "text read")
    ctx.check()  # stop here if the job was cancelled or ran out of time
    with ctx.stage("inference"):  # timed in c3_render_stage_duration_seconds{stage="inference"}
        result = text.upper()
    return TextOutput(result, metadata={"characters": len(result)})
'''

TASK_GPU = '''\
"""What a __NAME__ job does: on a leased GPU node, or on this machine when the node is local."""

import requests

from render_core.plugin import JobError, NodeError, TextOutput

#: Longest wait for the node's answer, in seconds (never past the job's deadline).
NODE_TIMEOUT_S = 120.0


def read_text(ctx, params) -> str:
    """The text to work on: the ``text`` field, or the downloaded ``text_url`` file."""
    if params["text"] is not None:
        return params["text"]
    path = ctx.download(params["text_url"])  # size-limited; timed as stage "download"
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise JobError("the file at text_url is not UTF-8 text") from None


def run(ctx, params):
    text = read_text(ctx, params)
    ctx.progress(0.2, "text read")
    ctx.check()
    with ctx.stage("inference"):
        if ctx.node.local:
            result = text.upper()
        else:
            result = run_on_node(ctx, text)
    return TextOutput(result, metadata={"characters": len(result), "node": ctx.node.instance_id})


def run_on_node(ctx, text: str) -> str:
    """POST the text to the node's __NAME__ service; a node fault is a NodeError (the job moves to a fresh node)."""
    url = ctx.node.url_for("__NAME__") + "run"
    timeout_s = max(1.0, min(NODE_TIMEOUT_S, ctx.remaining()))
    with ctx.node_session() as session:  # carries the node's auth headers
        try:
            answer = session.post(url, json={"text": text}, timeout=timeout_s)
        except requests.RequestException as exc:
            ctx.check()  # cancelled or out of time while waiting: that outcome wins
            raise NodeError(f"node {ctx.node.instance_id} did not answer: {exc}") from exc
    if answer.status_code >= 500:
        raise NodeError(f"node {ctx.node.instance_id} answered HTTP {answer.status_code}")
    if answer.status_code >= 400:
        raise JobError(f"the __NAME__ service refused the text: {answer.text[:300]}")
    try:
        return answer.json()["text"]
    except (ValueError, KeyError, TypeError):
        raise NodeError(f"node {ctx.node.instance_id} sent an answer without text") from None
'''

TESTS = '''\
"""The __NAME__ task, run in-process by the C3 Render test harness (no Redis, S3 or worker)."""

import pytest

from render_core.testing import TaskHarness
from __PACKAGE__ import plugin


@pytest.fixture
def harness(tmp_path):
    with TaskHarness(plugin, work_root=tmp_path) as harness:
        yield harness


def test_text_is_upper_cased(harness):
    run = harness.run("__NAME__", {"text": "hello"})
    assert run.status == "success", run
    assert run.text == "HELLO" and run.metadata["characters"] == 5
    assert run.progress == [(0.5, "text read")] and run.stages == ["inference"]


def test_text_can_come_from_a_url(harness):
    url = harness.files.add("/note.txt", "grüße".encode())
    run = harness.run("__NAME__", {"text_url": url})
    assert run.status == "success", run
    assert run.text == "GRÜSSE" and run.stages == ["download", "inference"]


def test_a_file_that_is_not_text_fails_the_job(harness):
    url = harness.files.add("/photo.txt", b"\\xff\\xd8\\xff\\xe0 not text")
    run = harness.run("__NAME__", {"text_url": url})
    assert (run.status, run.error) == ("failed", "the file at text_url is not UTF-8 text")


@pytest.mark.parametrize("body", [{}, {"text": "a", "text_url": "http://example.com/a.txt"}])
def test_exactly_one_source_is_required(harness, body):
    run = harness.run("__NAME__", body)
    assert run.status == "rejected" and run.problems == {"text": "give either text or text_url, not both"}


def test_a_cancelled_job_stops(harness):
    run = harness.run("__NAME__", {"text": "hello"}, cancel_at=0.5)
    assert run.status == "cancelled"
'''

TESTS_GPU = '''\
"""The __NAME__ task, run in-process by the C3 Render test harness with a fake GPU node."""

import pytest

from render_core.plugin import Node
from render_core.testing import Reply, TaskHarness
from __PACKAGE__ import plugin


@pytest.fixture
def harness(tmp_path):
    with TaskHarness(plugin, work_root=tmp_path) as harness:
        yield harness


def upper_case(request):
    return {"text": request.json()["text"].upper()}


def test_the_node_does_the_work(harness):
    harness.node.route("POST", "/__NAME__/run", upper_case)
    run = harness.run("__NAME__", {"text": "hello"})
    assert run.status == "success", run
    assert run.text == "HELLO" and run.metadata["node"] == harness.node.instance_id
    assert [request.json() for request in harness.node.requests] == [{"text": "hello"}]


def test_a_failing_node_is_a_node_failure(harness):
    harness.node.route("POST", "/__NAME__/run", 503)
    run = harness.run("__NAME__", {"text": "hello"})
    assert run.status == "failed" and run.node_failed and not harness.node.healthy


def test_a_refusal_by_the_node_fails_the_job_with_its_message(harness):
    harness.node.route("POST", "/__NAME__/run", Reply(status=422, body=b"text too long"))
    run = harness.run("__NAME__", {"text": "hello"})
    assert (run.status, run.node_failed) == ("failed", False)
    assert run.error == "the __NAME__ service refused the text: text too long"


def test_on_the_local_machine_no_node_is_called(harness):
    url = harness.files.add("/note.txt", b"from a file")
    run = harness.run("__NAME__", {"text_url": url}, node=Node.local_machine())
    assert run.status == "success", run
    assert run.text == "FROM A FILE" and not harness.node.requests


@pytest.mark.parametrize("body", [{}, {"text": "a", "text_url": "http://example.com/a.txt"}])
def test_exactly_one_source_is_required(harness, body):
    run = harness.run("__NAME__", body)
    assert run.status == "rejected" and run.problems == {"text": "give either text or text_url, not both"}
'''

README = """\
# __DISTRIBUTION__

A C3 Render task plugin: `POST /__NAME__`.

    pip install -e '.[test]'       # into the environment where c3-render runs
    python -m pytest               # the task's tests, in-process (render_core.testing)
    c3-render plugins --check      # the plugin imports, its API range fits, its tasks register
    c3-render dev                  # the service on this machine, with POST /__NAME__

Submit a job and read its result:

    curl -s -X POST http://127.0.0.1:5000/__NAME__ -H 'Content-Type: application/json' -d '{"text": "hello"}'
    curl -s http://127.0.0.1:5000/result/<id>

Where things are:

- `__PACKAGE__/plugin.py`: the entry point (`c3_render.plugins` in setup.cfg): the plugin API
  range it supports and the task it provides
- `__PACKAGE__/schema.py`: the request body (validation and OpenAPI come from it)
- `__PACKAGE__/task.py`: `run(ctx, params)`, what a job does
- `tests/`: the task run by the test harness

The plugin authors' guide of C3 Render (docs/plugins.md in its repository) documents every
hook, field, context method and error.
"""

FILES = {
    "setup.cfg": SETUP_CFG,
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "__PACKAGE__/__init__.py": INIT,
    "__PACKAGE__/plugin.py": PLUGIN,
    "__PACKAGE__/schema.py": SCHEMA,
    "__PACKAGE__/task.py": TASK,
    "tests/test___PACKAGE__.py": TESTS,
}

GPU_FILES = {
    "__PACKAGE__/plugin.py": PLUGIN_GPU,
    "__PACKAGE__/task.py": TASK_GPU,
    "tests/test___PACKAGE__.py": TESTS_GPU,
}
