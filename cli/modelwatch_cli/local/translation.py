"""What SAM turns a template into (the CloudFormation that deploys), from the real translator, cached on disk.

The SAM translator pins boto3 and pydantic at versions that clash with the runtime lock, so it lives in the tools
venv (`make tools`); `sam_translate.py` runs there in a subprocess. A translation depends only on the template's
text, the parameter values and the translator, so it is cached under `.check-cache/` by their digest: the local
stack and the checks pay the ~3 s translation once per template change.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess  # runs the repository's own script with the tools venv's Python  # nosec B404
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelwatch.errors import LocalStackError

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("sam_translate.py")
# Which Python has samtranslator: the tools venv, unless MODELWATCH_SAM_PYTHON names another.
ENV_SAM_PYTHON = "MODELWATCH_SAM_PYTHON"
DEFAULT_SAM_PYTHON = REPO_ROOT / ".venv-tools" / "bin" / "python"
CACHE_DIR = REPO_ROOT / ".check-cache" / "sam-translations"
TRANSLATE_TIMEOUT_SECONDS = 120


def sam_python() -> Path:
    """The interpreter that runs the SAM translator."""
    return Path(os.environ.get(ENV_SAM_PYTHON) or DEFAULT_SAM_PYTHON)


def translator_available() -> bool:
    return sam_python().is_file()


def translate(
    template_path: Path, parameters: Mapping[str, str] | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """The translated template (SAM resources replaced by their CloudFormation resources), from cache when known."""
    python = sam_python()
    if not python.is_file():
        raise LocalStackError(
            f"the SAM translator is needed to expand the template's policies and names, and {python} does not exist: "
            f"run `make tools` (or set {ENV_SAM_PYTHON} to a Python with aws-sam-translator installed)"
        )
    try:
        text = template_path.read_bytes()
    except OSError as exc:
        raise LocalStackError(f"{template_path}: cannot read the template: {exc}") from exc
    arguments = json.dumps(dict(sorted((parameters or {}).items())))
    key = hashlib.sha256(
        b"\0".join([text, arguments.encode(), region.encode(), SCRIPT.read_bytes(), _translator_version(python)])
    ).hexdigest()
    cached = CACHE_DIR / f"{key}.json"
    if cached.is_file():
        result: dict[str, Any] = json.loads(cached.read_text())
        return result
    environment = {**os.environ, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    completed = subprocess.run(  # noqa: S603 - fixed argv, no shell  # nosec B603
        [str(python), str(SCRIPT), str(template_path), arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=TRANSLATE_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise LocalStackError(f"{template_path}: the SAM translator failed: {detail}")
    result = json.loads(completed.stdout)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Write then rename: concurrent test processes may translate the same template at once.
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(completed.stdout)
    partial.replace(cached)
    return result


def _translator_version(python: Path) -> bytes:
    """The installed aws-sam-translator's dist-info name, so an upgraded tools venv translates afresh."""
    venv = python.parent.parent
    found = sorted(p.name for p in venv.glob("lib/python*/site-packages/aws_sam_translator-*.dist-info"))
    return "|".join(found).encode() or str(python).encode()
