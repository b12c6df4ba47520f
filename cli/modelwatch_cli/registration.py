"""Where a running `modelwatch local up` is found: it records its endpoint, region and operator keys in a file per
stack name, so every verb reaches it with `--stack modelwatch-local` (or `--endpoint-url`) and nothing else."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

HOME_VARIABLE = "MODELWATCH_LOCAL_HOME"  # where the files are (default ~/.modelwatch/local)


@dataclass(frozen=True)
class LocalRegistration:
    """A running local stack: its name, server endpoint, region, and the keys it accepts (None when IAM is off)."""

    stack: str
    endpoint_url: str
    region: str
    access_key_id: str | None = None
    secret_access_key: str | None = None
    pid: int = 0

    def credentials(self) -> dict[str, str]:
        """boto3 client arguments: the operator's keys, or moto's defaults when IAM is not enforced."""
        return {
            "aws_access_key_id": self.access_key_id or "testing",
            "aws_secret_access_key": self.secret_access_key or "testing",
        }


def home() -> Path:
    return Path(os.environ.get(HOME_VARIABLE) or Path.home() / ".modelwatch" / "local")


def _path(stack: str) -> Path:
    return home() / f"{stack}.json"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def find(stack: str | None = None, endpoint_url: str | None = None) -> LocalRegistration | None:
    """The running local stack of that name (or serving that endpoint); a file left by a stopped server is ignored."""
    folder = home()
    paths = [_path(stack)] if stack else sorted(folder.glob("*.json")) if folder.is_dir() else []
    for path in paths:
        try:
            found = LocalRegistration(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if not _alive(found.pid):
            continue
        if endpoint_url and found.endpoint_url.rstrip("/") != endpoint_url.rstrip("/"):
            continue
        return found
    return None


@contextlib.contextmanager
def registered(registration: LocalRegistration) -> Iterator[Path]:
    """Record the running stack for the duration (owner-only file: it holds the local server's operator keys)."""
    path = _path(registration.stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(asdict(registration), handle)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == registration.pid:
                path.unlink()
