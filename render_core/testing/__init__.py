"""Test kit for plugin authors: run a task in-process, serve its inputs, stand in for its GPU node.

    from render_core.testing import TaskHarness
    from my_plugin import plugin

    def test_it_counts_words(tmp_path):
        with TaskHarness(plugin, work_root=tmp_path) as harness:
            url = harness.files.add("/words.txt", b"one two three")
            run = harness.run("wordcount", {"text_url": url})
        assert run.status == "success", run
        assert run.text == "3 words"

No Redis, S3 or worker is involved; only tests import this package (the service never does).
The guide is docs/plugins.md ("Testing a plugin").
"""

from .harness import RecordedContext, Run, TaskHarness, Trail
from .servers import FakeNode, FileServer, NodeRequest, Reply

__all__ = ["FakeNode", "FileServer", "NodeRequest", "RecordedContext", "Reply", "Run", "TaskHarness", "Trail"]
