"""The README's links lead to files in the repository, the LICENSE is the one pyproject names,
and docs/ARCHITECTURE.md names every package and module that exists (so it stays current)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_links_point_at_files_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)\)", readme)
    assert "docs/ARCHITECTURE.md" in targets
    for target in targets:
        if "://" not in target:
            assert (ROOT / target).is_file(), target
    assert "../shared" not in readme


def test_the_license_file_matches_pyproject():
    license_id = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert license_id == "BSD-3-Clause"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026, the aihubd authors" in text
    assert "Neither the name of the copyright holder nor the names of its" in text


def test_the_architecture_map_names_every_package_and_module():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    daemon = ROOT / "daemon" / "aihubd"
    for package in sorted(p for p in daemon.iterdir() if (p / "__init__.py").exists()):
        assert f"{package.name}/" in doc, package.name
    for module in sorted(daemon.glob("*.py")):
        if module.name != "__init__.py":
            assert module.name in doc, module.name
    for sub in ("services", "rpc", "store", "hub", "tracking"):
        for module in sorted((daemon / sub).glob("*.py")):
            if module.name != "__init__.py":
                assert module.stem in doc, f"{sub}/{module.name}"
    for module in sorted((ROOT / "clients" / "python" / "aihubd_client").glob("*.py")):
        if module.name != "__init__.py":
            assert module.name in doc, f"aihubd_client/{module.name}"
