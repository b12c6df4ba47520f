"""`sam build` of every zip function and layer (named; the image function needs Docker) and their unzipped sizes.

Lambda's limit is 250 MB unzipped for a function plus all its layers; the build fails the check above it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from checks._common import ROOT, TEMPLATE, dir_size, image_functions, layers, mb, resources, zip_functions

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


def main(argv: list[str] | None = None) -> int:
    """Build, then check sizes; exit 1 on a failed build, a missing artifact or an oversized function."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam", default=shutil.which("sam") or "sam", help="sam executable (the tools venv's)")
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    args = parser.parse_args(argv)
    if sam_build(args.sam, args.build_dir) != 0:
        print("build sizes: sam build failed", file=sys.stderr)
        return 1
    problems = sizes(args.build_dir)
    for problem in problems:
        print(f"build sizes: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("build sizes: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
