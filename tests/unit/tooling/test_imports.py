"""The layering is checked: an upward import breaks import-linter's contract, a function-level import is named."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from checks import imports
from tests.helpers import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the runtime package with `line` added at the top of `module` (a path inside the package)."""
    package = tmp_path / "modelwatch"
    shutil.copytree(imports.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    target = package / module
    source = target.read_text()
    head, sep, rest = source.partition("from __future__ import annotations\n")
    target.write_text(f"{head}{sep}{line}\n{rest}")
    return package


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter with the project's runtime-layers contract, on the package under `root`."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["id"] == "runtime-layers")["layers"]
    config = root / "importlinter.ini"
    config.write_text(
        "[importlinter]\nroot_package = modelwatch\n\n[importlinter:contract:layers]\nname = runtime layers\n"
        "type = layers\nlayers =\n" + "".join(f"    {layer}\n" for layer in layers)
    )
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache", "--no-logo"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_project_keeps_its_contracts() -> None:
    result = subprocess.run([str(LINT_IMPORTS), "--no-logo"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert imports.function_level_imports() == []


def test_a_deliberately_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    # Given the state package importing publishing (a layer above it)
    root = tmp_path / "copy"
    root.mkdir()
    _copy_with(root, "state/keys.py", "from modelwatch.publishing import alarms  # noqa")

    # When the contract is checked, then it is broken and names the import
    result = _lint(root)
    assert result.returncode == 1
    assert "BROKEN" in result.stdout and "modelwatch.state.keys -> modelwatch.publishing.alarms" in result.stdout


def test_a_function_level_import_is_named_unless_it_keeps_a_heavy_library_away(tmp_path: Path) -> None:
    # Given a module that imports another modelwatch module inside a function, and one that says why it must
    package = _copy_with(tmp_path, "lake/store.py", "")
    (package / "dodge.py").write_text("def f():\n    from modelwatch.publishing import alarms\n    return alarms\n")
    (package / "heavy.py").write_text("def f():\n    import modelwatch.monitors.nml_chunker  # heavy: nannyml\n")

    # When the package is scanned, then only the unexplained one is named, with its place
    assert imports.function_level_imports(package) == ["modelwatch/dodge.py:2: modelwatch.publishing"]
