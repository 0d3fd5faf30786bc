"""The SONIC talking-portrait graph for ComfyUI, filled in from a versioned template file.

The template (``workflows/sonic_v<version>.json``) is a ComfyUI API-format graph in
which a value written ``"{{name}}"`` stands for the parameter ``name``.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

#: The template version this code fills in.
TEMPLATE_VERSION = 1
#: Frames per second the SONICSampler renders at (set in the template).
SONIC_FPS = 24
#: ComfyUI refuses SONIC_PreData durations below this (seconds).
MIN_DURATION_SECONDS = 1.0

_PLACEHOLDER = re.compile(r"^\{\{(\w+)\}\}$")
_TYPES = {"str": str, "int": int, "float": (int, float)}


@dataclass(frozen=True)
class SonicInputs:
    """What varies per job: uploaded file names (as ComfyUI refers to them), frame size (px),
    audio length (seconds), sampler seed and output file name prefix."""

    image: str
    audio: str
    width: int
    height: int
    duration: float
    seed: int
    filename_prefix: str


@dataclass(frozen=True)
class SonicGraph:
    """A graph ready for ``POST /prompt`` and the id of the node whose output is the video."""

    prompt: dict
    output_node: str


@functools.cache
def load_template(version: int = TEMPLATE_VERSION) -> dict:
    """The parsed template file shipped in this package (read once)."""
    text = resources.files(__package__).joinpath(f"workflows/sonic_v{version}.json").read_text("utf-8")
    template = json.loads(text)
    if template.get("version") != version:
        raise RuntimeError(f"workflows/sonic_v{version}.json declares version {template.get('version')}")
    return template


def build_sonic_graph(inputs: SonicInputs, version: int = TEMPLATE_VERSION) -> SonicGraph:
    """Fill the template with ``inputs``; the duration is raised to ComfyUI's 1 s minimum."""
    template = load_template(version)
    values = {
        "image": inputs.image, "audio": inputs.audio, "width": int(inputs.width), "height": int(inputs.height),
        "duration": round(max(MIN_DURATION_SECONDS, float(inputs.duration)), 3), "seed": int(inputs.seed),
        "filename_prefix": inputs.filename_prefix,
    }  # fmt: skip
    _check_values(template["parameters"], values)
    prompt = _substitute(copy.deepcopy(template["graph"]), values)
    return SonicGraph(prompt=prompt, output_node=str(template["output_node"]))


def _check_values(declared: dict, values: dict) -> None:
    """Every declared parameter is given with its declared type, and nothing else."""
    if set(declared) != set(values):
        raise RuntimeError(f"template parameters {sorted(declared)} do not match {sorted(values)}")
    for name, type_name in declared.items():
        if not isinstance(values[name], _TYPES[type_name]):
            raise TypeError(f"template parameter {name} must be {type_name}, not {values[name]!r}")


def _substitute(node, values: dict):
    """Replace every ``"{{name}}"`` string inside ``node`` by ``values[name]`` (typed)."""
    if isinstance(node, dict):
        return {key: _substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, values) for value in node]
    if isinstance(node, str) and (match := _PLACEHOLDER.match(node)):
        if match[1] not in values:
            raise RuntimeError(f"the template uses an undeclared parameter {match[1]!r}")
        return values[match[1]]
    return node
