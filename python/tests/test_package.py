"""The package as installed: versions agree, and an installed package loads
the library it carries."""

import os
import re
from pathlib import Path

import pytest

import peerdisc

ROOT = Path(__file__).resolve().parent.parent.parent


def cargo_version() -> str:
    text = (ROOT / "Cargo.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.M).group(1)


def test_versions_agree():
    pyproject = (ROOT / "python" / "pyproject.toml").read_text()
    declared = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)
    assert declared == cargo_version() == peerdisc.version()


def test_the_package_is_typed():
    assert (Path(peerdisc.__file__).parent / "py.typed").is_file()


@pytest.mark.skipif(
    os.environ.get("PEERDISC_TEST_INSTALLED") != "1",
    reason="runs against the pip-installed package (scripts/test-ffi.sh)",
)
def test_installed_package_loads_its_own_library():
    from importlib.metadata import version

    here = Path(peerdisc.__file__).resolve().parent
    assert here != ROOT / "python" / "peerdisc", "imported from the source tree"
    assert "site-packages" in here.parts, here
    assert Path(peerdisc.library_path()).resolve().parent == here
    assert version("peerdisc") == peerdisc.version()
