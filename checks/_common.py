"""Shared helpers of the checks: repository paths, requirement pins, template resources."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.asl import load_template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
CACHE = ROOT / ".check-cache"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


@dataclass(frozen=True)
class Pin:
    """One `name==version` line of a requirements file."""

    name: str
    version: str

    @property
    def key(self) -> str:
        """PEP 503 normalised name."""
        return re.sub(r"[-_.]+", "-", self.name).lower()


def read_pins(path: Path) -> list[Pin]:
    """Every exact pin of a requirements file; any other requirement line is an error (the locks are exact)."""
    pins = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        if not match:
            raise ValueError(f"{path}:{number}: not an exact pin: {raw!r}")
        pins.append(Pin(match.group(1), match.group(2)))
    return pins


def resources(template: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """The template's resources (CloudFormation tags read as plain values)."""
    data: dict[str, dict[str, Any]] = load_template(template).get("Resources", {})
    return data


def zip_functions(template: Path = TEMPLATE) -> dict[str, str]:
    """Logical id -> CodeUri of every zip function built with `BuildMethod: makefile`."""
    found = {}
    for logical_id, resource in resources(template).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        if props.get("PackageType") == "Image":
            continue
        found[logical_id] = str(props["CodeUri"])
    return found


def layers(template: Path = TEMPLATE) -> dict[str, str]:
    """Logical id -> ContentUri of every layer the template builds."""
    return {
        logical_id: str(resource["Properties"]["ContentUri"])
        for logical_id, resource in resources(template).items()
        if resource.get("Type") == "AWS::Serverless::LayerVersion"
    }


def image_functions(template: Path = TEMPLATE) -> list[str]:
    """Logical ids of the image functions (cannot be built without a Docker engine)."""
    return [
        logical_id
        for logical_id, resource in resources(template).items()
        if resource.get("Type") == "AWS::Serverless::Function"
        and resource.get("Properties", {}).get("PackageType") == "Image"
    ]


def dir_size(path: Path) -> int:
    """Bytes of all regular files under path (what Lambda counts as unzipped size)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def mb(size: int) -> str:
    """Size in MB as Lambda's quotas count them (250 MB unzipped = 262,144,000 bytes, so MiB)."""
    return f"{size / 2**20:.1f} MB"


# What the Lambda python3.12 runtime (and its base image) provides in /var/runtime: boto3 and its dependencies.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


def runtime_folder(target: Path) -> Path:
    """A folder standing for the Lambda runtime's boto3 stack (pure Python, copied from this venv)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in RUNTIME_MODULES:
        source = Path(__import__(name).__file__)
        if source.name == "__init__.py":
            shutil.copytree(source.parent, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / source.name)
    return target
