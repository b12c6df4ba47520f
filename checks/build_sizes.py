"""`sam build` of every zip function and layer (named; the image function needs Docker) and their unzipped sizes.

Lambda's limit is 250 MB unzipped for a function plus all its layers; the build fails the check above it. Then each
built handler is imported by a CPython 3.12 (the runtime's version, so the layer's cp312 wheels load) started with
`-I -S` whose path is only the built function, its layers and the runtime's boto3: a dependency missing from
requirements/layer.txt fails here rather than at the first cold start. Without a local python3.12 that step is
reported as skipped. Last, every module the layer ships is read (AST, imports inside functions included) to prove
it is runtime code only: nothing imports the CLI's or the embedded stack's libraries (click, moto, rich) or the
tools' own packages.
"""

from __future__ import annotations

import argparse
import ast
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from checks._common import (
    CACHE,
    ROOT,
    TEMPLATE,
    dir_size,
    image_functions,
    layers,
    mb,
    resources,
    runtime_folder,
    zip_functions,
)

LIMIT = 250 * 1024 * 1024  # Lambda quota: 262,144,000 bytes unzipped, function and layers together
BUILD_DIR = ROOT / ".aws-sam" / "check-build"


def function_layers(logical_id: str) -> list[str]:
    """The template layers a function references (`!Ref Layer` entries)."""
    props = resources()[logical_id].get("Properties", {})
    return [entry["Ref"] for entry in props.get("Layers", []) if isinstance(entry, dict) and "Ref" in entry]


def sam_build(sam: str, build_dir: Path) -> int:
    """Build every zip function and layer of the template; image functions are excluded by name."""
    excluded = image_functions()
    command = [sam, "build", "--template-file", str(TEMPLATE), "--build-dir", str(build_dir), "--base-dir", str(ROOT)]
    command += ["--parallel", *(arg for name in excluded for arg in ("--exclude", name))]
    names = sorted(zip_functions()) + sorted(layers())
    print(f"sam build: {', '.join(names)} (excluded, image needs Docker: {', '.join(excluded) or 'none'})")
    return subprocess.run(command, cwd=ROOT, check=False).returncode  # noqa: S603 - fixed argv


def sizes(build_dir: Path) -> list[str]:
    """Print each function's and layer's size; problems for missing artifacts and functions over the limit."""
    problems = []
    layer_sizes = {}
    for layer in sorted(layers()):
        path = build_dir / layer
        if not (path / "python").is_dir():
            problems.append(f"{layer}: no built layer at {path}/python")
            continue
        layer_sizes[layer] = dir_size(path)
        print(f"  {layer:<28} {mb(layer_sizes[layer]):>10}  (layer)")
    for function, code_uri in sorted(zip_functions().items()):
        path = build_dir / function
        if not (path / "app.py").is_file():
            problems.append(f"{function}: no built handler at {path}/app.py (from {code_uri})")
            continue
        own = dir_size(path)
        total = own + sum(layer_sizes.get(layer, 0) for layer in function_layers(function))
        print(f"  {function:<28} {mb(own):>10}  with layers {mb(total):>10}  (limit {mb(LIMIT)})")
        if total > LIMIT:
            problems.append(f"{function}: {mb(total)} unzipped with its layers, over Lambda's {mb(LIMIT)}")
    return problems


IMPORT_RUNNER = """
import sys, sysconfig
function_dir, *paths = sys.argv[1:]
sys.path[:0] = [function_dir, *paths]
assert not [p for p in sys.path if "site-packages" in p], sys.path
import app
assert callable(app.lambda_handler)
allowed = (function_dir, *paths, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted({
    m.__file__ for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and not m.__file__.startswith(allowed)
})
assert not outside, f"modules from outside the function and its layers: {outside}"
"""
# Dummy values for the variables the template sets (handlers may parse their settings at import).
IMPORT_ENV = {
    "NML_DISABLE_USAGE_LOGGING": "1",
    "LAKE_BUCKET": "lake",
    "STATE_TABLE": "state",
    "METRIC_NAMESPACE": "ModelWatch",
    "STACK_NAME": "modelwatch",
    "CAPTURE_PREFIX": "datacapture/",
    "GROUND_TRUTH_PREFIX": "ground-truth/",
    "MONITOR_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:monitor",
    "NOTIFICATIONS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:notifications",
    "REPORT_LINKS": "console",
    "POWERTOOLS_SERVICE_NAME": "modelwatch",
    "POWERTOOLS_METRICS_NAMESPACE": "ModelWatch",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# Libraries and packages only the CLI, the embedded stack and the checks use: never imported by shipped code.
TOOL_ONLY_IMPORTS = frozenset({"click", "moto", "rich", "modelwatch_cli", "checks", "tests", "benchmarks"})


def imported_roots(source: str) -> set[str]:
    """Top-level names of every module a Python source imports, wherever the import statement is."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def runtime_only(build_dir: Path) -> list[str]:
    """Problems for any built layer module that imports a tool-only library or package."""
    problems = []
    for layer in sorted(layers()):
        package = build_dir / layer / "python" / "modelwatch"
        modules = sorted(package.rglob("*.py"))
        if not modules:
            problems.append(f"{layer}: no modelwatch package in the built layer")
            continue
        for path in modules:
            forbidden = sorted(imported_roots(path.read_text()) & TOOL_ONLY_IMPORTS)
            if forbidden:
                problems.append(f"{layer}: {path.relative_to(build_dir)} imports {', '.join(forbidden)} (tool-only)")
        if not problems:
            print(f"  {layer:<28} {len(modules)} shipped modules, none imports {', '.join(sorted(TOOL_ONLY_IMPORTS))}")
    return problems


def find_python312() -> str | None:
    """A local CPython 3.12 ($PYTHON312, python3.12 on PATH, or a pyenv install)."""
    candidates = [os.environ.get("PYTHON312", ""), shutil.which("python3.12") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")), reverse=True)
    for candidate in filter(None, candidates):
        probe = [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"]
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:  # noqa: S603 - fixed argv
            return candidate
    return None


def import_handlers(python: str, build_dir: Path) -> list[str]:
    """Import every built handler in isolation; problems for those that fail."""
    runtime = runtime_folder(CACHE / "lambda-runtime")
    build_dir = build_dir.resolve()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(CACHE), **IMPORT_ENV}
    problems = []
    for function in sorted(zip_functions()):
        paths = [str(build_dir / layer / "python") for layer in function_layers(function)]
        command = [python, "-I", "-S", "-c", IMPORT_RUNNER, str(build_dir / function), *paths, str(runtime)]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode:
            problems.append(f"{function}: handler does not import from its build:\n{result.stderr.strip()[-1500:]}")
        else:
            print(f"  {function:<28} imports in isolation (python3.12 -I -S, layers + runtime boto3 only)")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Build, then check sizes; exit 1 on a failed build, a missing artifact or an oversized function."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam", default=shutil.which("sam") or "sam", help="sam executable (the tools venv's)")
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    args = parser.parse_args(argv)
    if sam_build(args.sam, args.build_dir) != 0:
        print("build sizes: sam build failed", file=sys.stderr)
        return 1
    problems = sizes(args.build_dir) + runtime_only(args.build_dir)
    python312 = find_python312()
    if python312 is None:
        print("build sizes: handler import check SKIPPED: no local python3.12 (set PYTHON312=...)")
    elif not problems:
        problems += import_handlers(python312, args.build_dir)
    for problem in problems:
        print(f"build sizes: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("build sizes: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
