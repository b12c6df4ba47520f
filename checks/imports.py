"""The layering as a checked contract: import-linter's contracts (pyproject.toml), and no function-level import of a
modelwatch module in the runtime package unless it is marked as keeping a heavy library out of other functions.

A function-level import used to dodge a cycle means the module is in the wrong layer; the one legitimate reason is
a module that imports a heavy library at its top (nannyml) and must not load where that library is absent (the zip
functions), marked `# heavy: <why>` on the import line.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

from checks._common import ROOT

PACKAGE = ROOT / "layers" / "modelwatch" / "modelwatch"
MARKER = "# heavy:"


def function_level_imports(package: Path = PACKAGE) -> list[str]:
    """`path:line: module` of every unmarked import of a modelwatch module inside a function."""
    found = []
    for path in sorted(package.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                names: list[str] = []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                for name in names:
                    if name.split(".")[0] == "modelwatch" and MARKER not in lines[node.lineno - 1]:
                        found.append(f"{path.relative_to(package.parent)}:{node.lineno}: {name}")
    return sorted(set(found))


def lint_imports(executable: str) -> int:
    """import-linter's contracts from pyproject.toml; its exit status."""
    return subprocess.run([executable, "--no-logo"], cwd=ROOT, check=False).returncode  # noqa: S603 - fixed argv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lint-imports", default="lint-imports", help="the lint-imports executable")
    args = parser.parse_args(argv)
    problems = function_level_imports()
    for problem in problems:
        print(f"imports: function-level import of a modelwatch module (move it up a layer): {problem}", file=sys.stderr)
    status = lint_imports(args.lint_imports)
    if problems or status:
        return 1
    print("imports: OK: contracts kept, no function-level modelwatch import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
