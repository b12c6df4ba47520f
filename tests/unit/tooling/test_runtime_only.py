"""The built layer ships runtime code only: no module imports the CLI's or the embedded stack's libraries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from checks import build_sizes
from tests.helpers import ROOT


def _fake_build(tmp_path: Path, modules: dict[str, str]) -> Path:
    package = tmp_path / "ModelwatchLayer" / "python" / "modelwatch"
    for name, source in modules.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return tmp_path


@pytest.fixture(autouse=True)
def _one_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_sizes, "layers", lambda: {"ModelwatchLayer": "layers/modelwatch"})


def test_an_import_of_click_inside_a_function_is_caught(tmp_path: Path) -> None:
    # Given a shipped module that imports click lazily, and one that imports the embedded stack
    build = _fake_build(
        tmp_path,
        {
            "__init__.py": "",
            "ok.py": "import json\nfrom modelwatch.errors import ModelwatchError\n",
            "lazy.py": "def f():\n    import click\n    return click\n",
            "sub/stack.py": "from moto import mock_aws\nfrom modelwatch_cli.local import stack\n",
        },
    )

    # When the built layer is checked
    problems = build_sizes.runtime_only(build)

    # Then both offenders are named with what they import, and nothing else is
    assert len(problems) == 2
    assert "lazy.py imports click" in problems[0]
    assert "stack.py imports modelwatch_cli, moto" in problems[1]


def test_the_package_the_layer_copies_is_runtime_only(tmp_path: Path) -> None:
    # Given the layer's copy of the modelwatch package (the layer Makefile copies this folder as it is)
    shutil.copytree(
        ROOT / "layers" / "modelwatch" / "modelwatch", tmp_path / "ModelwatchLayer" / "python" / "modelwatch"
    )

    # When it is checked, then no module imports a tool-only library
    assert build_sizes.runtime_only(tmp_path) == []
