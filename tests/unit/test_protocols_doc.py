"""docs/protocols.md, the SONIC workflow file and the fake ComfyUI describe the same graph.

The table in the doc is parsed: per node id its class_type, every constant input written as
`` `name` <JSON value> `` and every link written as `` `name` ← [node id, output index] ``.
A change to one of the three without the others fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from c3_render_portrait.sonic_graph import load_template
from support.fake_comfyui import NODE_TYPES, Const

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocols.md"
ROW = re.compile(r"^\| (\d+) \| `([^`]+)` \| (.*) \|$")
CONSTANT = re.compile(r'`(\w+)` ("[^"]*"|-?\d+(?:\.\d+)?|true|false)(?=[,;)]|$| →)')
LINK = re.compile(r"`(\w+)` ← \[(\d+), (\d+)\]")


def documented_graph() -> dict[str, tuple[str, dict]]:
    """{node id: (class_type, {input: constant or [source id, output index]})} from the SONIC table."""
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            node_id, class_type, inputs = match.groups()
            values = {name: json.loads(value) for name, value in CONSTANT.findall(inputs)}
            values.update({name: [source, int(index)] for name, source, index in LINK.findall(inputs)})
            rows[node_id] = (class_type, values)
    return rows


DOCUMENTED = documented_graph()


def test_the_doc_describes_every_node_of_the_workflow():
    graph = load_template()["graph"]
    assert len(DOCUMENTED) == 8
    assert {node_id: class_type for node_id, (class_type, _) in DOCUMENTED.items()} == \
        {node_id: node["class_type"] for node_id, node in graph.items()}


@pytest.mark.parametrize("node_id", sorted(DOCUMENTED))
def test_documented_inputs_match_the_workflow_and_the_fake(node_id):
    class_type, documented = DOCUMENTED[node_id]
    inputs = load_template()["graph"][node_id]["inputs"]
    linked = {name for name, value in inputs.items() if isinstance(value, list)}
    assert linked <= set(documented), f"the doc omits links of node {node_id}: {linked - set(documented)}"
    for name, value in documented.items():
        assert inputs[name] == value and type(inputs[name]) is type(value), (node_id, name)
        spec = NODE_TYPES[class_type].inputs[name]
        if isinstance(spec, Const):
            assert spec.value == value, (class_type, name)
    fake_constants = {name for name, spec in NODE_TYPES[class_type].inputs.items() if isinstance(spec, Const)}
    missing = fake_constants - set(documented)
    assert not missing, f"the doc omits constants the fake checks: {missing}"
