"""Dependency floors stay above versions with known advisories, in every setup.cfg that names them.

urllib3 >= 2.6: streaming decompression bounds (decompression bombs through ``iter_content``);
requests >= 2.32.4: credentials leaking to another host through .netrc on crafted URLs.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SETUP_FILES = [ROOT / "setup.cfg", *sorted(ROOT.glob("plugins/*/setup.cfg"))]
#: package -> (newest refused version, first accepted version)
FLOORS = {"urllib3": ("2.5.0", "2.6.0"), "requests": ("2.32.3", "2.32.4")}


def requirements(path: Path) -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(path)
    lines = config.get("options", "install_requires", fallback="").splitlines()
    return [Requirement(line.strip()) for line in lines if line.strip()]


def test_the_core_names_both_floors():
    named = {requirement.name for requirement in requirements(ROOT / "setup.cfg")}
    assert set(FLOORS) <= named


@pytest.mark.parametrize("path", SETUP_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_pin_excludes_the_vulnerable_versions(path):
    for requirement in requirements(path):
        if requirement.name in FLOORS:
            refused, accepted = FLOORS[requirement.name]
            assert not requirement.specifier.contains(refused), f"{path}: {requirement}"
            assert requirement.specifier.contains(accepted), f"{path}: {requirement}"
