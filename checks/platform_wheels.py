"""Every pin of the Lambda requirements resolves to a wheel for python3.12 on Amazon Linux 2023 x86_64.

`sam build` installs the zip layer with `pip install --platform manylinux_2_28_x86_64 --only-binary=:all:` and the
estimator image installs its set on the python3.12 base image; a pin without such a wheel would fail there (or build
from source). This downloads each pin's wheel for that platform (`--no-deps`, the files are complete locks) into a
cache, checks its tags, and checks the pins agree with requirements/dev.lock, where tests run. Results are cached
by the files' contents: an unchanged set is not downloaded again.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from checks._common import CACHE, ROOT, Pin, read_pins

PLATFORM = "manylinux_2_28_x86_64"
# pip takes --platform literally: manylinux_2_28 does not admit the (more common) manylinux_2_17 wheels, which run on
# any glibc >= 2.17 host. layers/modelwatch/Makefile passes the same list.
MANYLINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)] + ["manylinux2014_x86_64"]
PIP_PLATFORM_ARGS = (
    "--only-binary=:all:",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
    *(arg for platform in MANYLINUX for arg in ("--platform", platform)),
    "--no-deps",
)
DEV_LOCK = ROOT / "requirements" / "dev.lock"
WHEELS = CACHE / "platform-wheels"


def _platforms() -> list[str]:
    # manylinux_2_28 hosts also run every older manylinux (glibc is backwards compatible), plus the legacy aliases.
    tags = [f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)]
    return [*tags, "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def supported_tags() -> set[Tag]:
    """Wheel tags a CPython 3.12 x86_64 manylinux_2_28 interpreter installs (cp312, abi3, py3-none)."""
    platforms = _platforms()
    tags = set(cpython_tags((3, 12), abis=["cp312"], platforms=platforms))
    tags.update(compatible_tags((3, 12), "cp312", platforms=platforms))
    return tags


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256(" ".join(PIP_PLATFORM_ARGS).encode())
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _download(requirement: list[str]) -> str:
    """pip download into the cache; returns pip's error lines ("" on success)."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += [*PIP_PLATFORM_ARGS, "--dest", str(WHEELS), *requirement]
    result = subprocess.run(command, check=False, capture_output=True, text=True)  # noqa: S603 - fixed argv
    if result.returncode == 0:
        return ""
    return " ".join(line for line in result.stderr.splitlines() if line.startswith("ERROR")) or "pip download failed"


def check_wheels(pins: list[Pin], wheel_dir: Path) -> list[str]:
    """Problems: pins without a downloaded wheel for the platform, or whose wheel's tags do not fit it."""
    supported = supported_tags()
    found: dict[tuple[str, str], list[str]] = {}
    for wheel in wheel_dir.glob("*.whl"):
        name, version, _build, tags = parse_wheel_filename(wheel.name)
        ok = bool(tags & supported)
        found.setdefault((name, str(version)), []).append(wheel.name if ok else f"!{wheel.name}")
    problems = []
    for pin in pins:
        names = found.get((canonicalize_name(pin.name), pin.version), [])
        if not names:
            problems.append(f"{pin.name}=={pin.version}: no wheel for cp312 {PLATFORM}")
        elif all(n.startswith("!") for n in names):
            problems.append(f"{pin.name}=={pin.version}: wheel tags do not fit cp312 {PLATFORM}: {names}")
    return problems


def check_against_dev_lock(files: list[Path]) -> list[str]:
    """Problems: a package pinned in a Lambda requirements file at another version than in dev.lock."""
    dev = {pin.key: pin.version for pin in read_pins(DEV_LOCK)}
    problems = []
    for path in files:
        for pin in read_pins(path):
            if pin.key in dev and dev[pin.key] != pin.version:
                problems.append(f"{path.relative_to(ROOT)}: {pin.name}=={pin.version} but dev.lock has {dev[pin.key]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Download (or reuse) the platform wheels of the given requirement files and check them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", nargs="+", type=Path)
    args = parser.parse_args(argv)
    files = [path.resolve() for path in args.requirements]
    pins = [pin for path in files for pin in read_pins(path)]
    problems = check_against_dev_lock(files)

    stamp = WHEELS / ".verified"
    digest = _digest(files)
    if stamp.is_file() and stamp.read_text() == digest and not check_wheels(pins, WHEELS):
        print(f"platform wheels: {len(pins)} pins unchanged since the last verified run (cache {WHEELS})")
    else:
        WHEELS.mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        # One pip run for all the files: the layer's pins are a subset of the image's, their index pages (pip's
        # main cost here) are read once. Only when it fails, file by file as before.
        if _download([arg for path in files for arg in ("--requirement", str(path))]):
            for path in files:
                if not _download(["--requirement", str(path)]):
                    continue
                # pip stops at the first pin it cannot satisfy: retry one by one so every failing pin is reported.
                for pin in read_pins(path):
                    error = _download([f"{pin.name}=={pin.version}"])
                    if error:
                        problems.append(f"{path.relative_to(ROOT)}: {pin.name}=={pin.version}: {error}")
        problems.extend(check_wheels(pins, WHEELS))
        if not problems:
            stamp.write_text(digest)
    for problem in problems:
        print(f"platform wheels: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"platform wheels: OK: {len(pins)} pins have cp312/abi3/py3 wheels for {PLATFORM}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
