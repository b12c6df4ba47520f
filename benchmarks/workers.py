"""The environment of the benchmarks' worker interpreters: compiled bytecode cached, as a pip-installed layer has it
(pip compiles what it installs; a Lambda container reads the .pyc files). This machine sets PYTHONDONTWRITEBYTECODE
and its virtualenv holds no bytecode, so without a cache every import would compile the sources again: nannyml's
import took 7-9 s against 2 s. The cache lives apart from the sources (PYTHONPYCACHEPREFIX); a worker's first
run fills it, so measurements repeat or warm up first."""

from __future__ import annotations

import os
from pathlib import Path

PYCACHE = Path(__file__).resolve().parent / ".data" / "pycache"


def compiled_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with bytecode written to and read from PYCACHE, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return {**env, **(extra or {})}
