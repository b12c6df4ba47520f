"""The AnalyseFunction image's contents, without Docker: install, then run the handler from that folder alone.

Replays the Dockerfile's steps into an empty folder (`pip install --no-deps --requirement ... --target`, then the
modelwatch package and app.py beside it), then runs `app.lambda_handler` in a child interpreter started with
`-I -S` (no site-packages, no PYTHON* variables) whose path is only that folder plus the boto3/botocore/s3transfer
the Lambda base image provides, on a small fixture lake, with sockets blocked (analysis sends nothing anywhere):
each monitor's step, then the assembly, twice (the second run reuses the stored analysis).
It fails if the handler cannot import or run, if any module loads from outside those folders and the standard
library, or if the folder exceeds the 10 GB image limit; it prints the folder's size.
The install is reused while requirements.txt is unchanged (`--fresh` forces a new one); `--uv` makes it with uv.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from checks._common import CACHE, ROOT, dir_size, mb, runtime_folder
from modelwatch.config.model import parse_model_config
from modelwatch.constants import LAKE_CAPTURES
from modelwatch.lake.store import LocalStore
from modelwatch.lake.writer import PartitionedWriter
from modelwatch.monitors import configured
from modelwatch.registry.store import Registry

FUNCTION_DIR = ROOT / "functions" / "analyse"
DOCKERFILE = FUNCTION_DIR / "Dockerfile"
REQUIREMENTS = FUNCTION_DIR / "requirements.txt"
IMAGE_LIMIT = 10 * 1024**3
# What the Dockerfile copies into LAMBDA_TASK_ROOT; the check replays exactly these.
EXPECTED_COPIES = {"functions/analyse/requirements.txt", "layers/modelwatch/modelwatch", "functions/analyse/app.py"}
MODEL = "image-check"
ANALYSIS_START = datetime(2026, 3, 2, tzinfo=UTC)
HOURS = 4
ROWS_PER_HOUR = 400
RESULT_MARK = "ESTIMATOR-IMAGE-CHECK "

RUNNER = (
    f"ANALYSIS_START, HOURS, ROWS_PER_HOUR = {ANALYSIS_START.isoformat()!r}, {HOURS}, {ROWS_PER_HOUR}\n"
    '''
import json, socket, sys, sysconfig
task, runtime, lake, event = sys.argv[1:5]
sys.path[:0] = [task, runtime]
leaks = [p for p in sys.path if "site-packages" in p or "dist-packages" in p]
assert not leaks, f"site-packages on the path: {leaks}"
def _blocked(*args, **kwargs):
    raise OSError(f"network access from the estimator: {args!r}")
socket.socket.connect = _blocked
socket.socket.connect_ex = _blocked
socket.create_connection = _blocked
import app
from datetime import datetime, timedelta
from modelwatch.lake.store import LocalStore
from modelwatch.state import HourCounter
class Hours:
    """The state table's hour counters for the fixture's hours (rows, data version 1)."""
    def hours(self, model, start=None, end=None):
        first = datetime.fromisoformat(ANALYSIS_START)
        return [HourCounter(first + timedelta(hours=h), rows=ROWS_PER_HOUR, data_version=1) for h in range(HOURS)]
class State:
    """The state table as the analysis reads it: only the hour counters."""
    counters = Hours()
from modelwatch.signing import process_signer
# The handler's lake, state and signing key from its settings, here: the fixture lake, its hour counters, and a key
# of this process (KMS is out of reach with sockets blocked; the same Signer interface signs and verifies).
app.entry.lake = lambda settings: LocalStore(lake)
app.entry.state = lambda settings: State()
app.entry.signer = lambda settings: process_signer()
class Context:
    function_name = "AnalyseFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AnalyseFunction"
    aws_request_id = "estimator-image-check"
def whole(run):
    steps = [{"action": "analyse", "monitor": m, "run": run} for m in run["monitors"]]
    outcomes = [app.lambda_handler(step, Context()) for step in steps]
    return app.lambda_handler({"action": "assemble", "run": run, "monitors": outcomes}, Context())
outcome = whole(json.loads(event))
again = whole({**json.loads(event), "run_id": "again"})
assert again["chunks_reused"] == outcome["chunks_analysed"], again  # the stored analysis loads in the image
allowed = (task, runtime, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted({
    m.__file__ for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and m.__file__ != __file__ and not m.__file__.startswith(allowed)
})
print("'''
    + RESULT_MARK
    + """" + json.dumps({"outcome": outcome, "again": again, "outside": outside}, default=str))
"""
)


def _field(mapping: object, name: str) -> object:
    return mapping.get(name) if isinstance(mapping, dict) else None


def dockerfile_problems() -> list[str]:
    """The Dockerfile must still install and copy what this check replays."""
    text = DOCKERFILE.read_text()
    problems = []
    copies = {line.split()[1] for line in text.splitlines() if line.startswith("COPY ")}
    if copies != EXPECTED_COPIES:
        problems.append(f"Dockerfile copies {sorted(copies)}, this check replays {sorted(EXPECTED_COPIES)}")
    if not re.search(r"pip install --no-deps --requirement \S+ --target", text):
        problems.append("Dockerfile no longer runs `pip install --no-deps --requirement ... --target`")
    return problems


def install_command(task: Path, uv: str | None) -> list[str]:
    """The Dockerfile's `pip install --no-deps --requirement ... --target`, by pip or by uv.

    uv installs the same wheels' files, byte-compiled too as pip does (so the size is the image's): 17 s against
    pip's 43 s on 2 cores. Its files are hard links into uv's cache; nothing here writes into an installed file.
    """
    if uv is None:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    else:
        command = [uv, "pip", "install", "--quiet", "--python", sys.executable, "--compile-bytecode"]
    return [*command, "--no-deps", "--requirement", str(REQUIREMENTS), "--target", str(task)]


def install(task: Path, fresh: bool, uv: str | None = None) -> str:
    """The Dockerfile's pip step into an empty folder (reused while requirements.txt is unchanged)."""
    stamp = task / ".requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not fresh and stamp.is_file() and stamp.read_text() == digest:
        return "reused (requirements unchanged)"
    shutil.rmtree(task, ignore_errors=True)
    task.mkdir(parents=True)
    subprocess.run(install_command(task, uv), check=True)  # noqa: S603 - fixed argv
    (task / ".lock").unlink(missing_ok=True)  # uv's lock file for the target, not part of the install
    stamp.write_text(digest)
    return f"installed into an empty folder by {'pip' if uv is None else 'uv'}"


def add_code(task: Path) -> None:
    """The Dockerfile's COPY steps (modelwatch package, handler) and its removal of .env files."""
    shutil.rmtree(task / "modelwatch", ignore_errors=True)
    shutil.copytree(ROOT / "layers" / "modelwatch" / "modelwatch", task / "modelwatch")
    shutil.copy2(FUNCTION_DIR / "app.py", task / "app.py")
    for env_file in task.rglob(".env"):
        env_file.unlink()


def fixture_lake(lake: Path) -> None:
    """A registered binary model with reference data and four hourly chunks of captures (no labels)."""
    rng = np.random.default_rng(7)

    def rows(n: int) -> pd.DataFrame:
        x1, x2 = rng.normal(size=n), rng.normal(size=n)
        c1 = rng.choice(["a", "b", "c"], size=n)
        logit = 1.5 * x1 - x2 + (c1 == "a") * 0.8
        proba = 1 / (1 + np.exp(-(logit + rng.normal(scale=0.5, size=n))))
        return pd.DataFrame(
            {
                "x1": x1,
                "x2": x2,
                "c1": c1,
                "y_pred_proba": proba,
                "y_pred": (proba >= 0.5).astype("int64"),
                "target": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64"),
            }
        )

    config = parse_model_config(
        {
            "name": MODEL,
            "endpoint": f"{MODEL}-endpoint",
            "problem_type": "binary_classification",
            "features": [{"name": "x1"}, {"name": "x2"}, {"name": "c1", "type": "categorical"}],
            "output": {"columns": ["y_pred_proba", "y_pred"]},
            "estimation": {"metrics": ["roc_auc", "f1"]},
        }
    )
    store = LocalStore(lake)
    reference = rows(3000)
    reference["timestamp"] = pd.date_range("2026-03-01", periods=len(reference), freq="10s", tz="UTC")
    buffer = reference.to_parquet(index=False)
    Registry(store).register(config, reference=buffer)

    analysis = rows(HOURS * ROWS_PER_HOUR).drop(columns=["target"])
    step = timedelta(hours=1) / ROWS_PER_HOUR
    analysis["event_id"] = [f"evt-{i}" for i in range(len(analysis))]
    analysis["inference_id"] = analysis["event_id"]
    analysis["row_in_request"] = 0
    analysis["inference_time"] = [ANALYSIS_START + step * i for i in range(len(analysis))]
    writer = PartitionedWriter(store, LAKE_CAPTURES, MODEL, "inference_time", "fixture")
    writer.add(pl.from_pandas(analysis))
    writer.write()


def run_handler(task: Path, runtime: Path, lake: Path, home: Path) -> dict[str, object]:
    """Run the handler in an isolated interpreter; returns its outcome and modules loaded from elsewhere."""
    runner = home / "runner.py"
    runner.write_text(RUNNER)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "NML_DISABLE_USAGE_LOGGING": "1",
        "LAKE_BUCKET": "modelwatch-lake",
        "STATE_TABLE": "modelwatch-state",
        "ARTIFACT_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/image-check",
        "MODELWATCH_CLOCK": (ANALYSIS_START + timedelta(days=1)).isoformat(),
        "POWERTOOLS_SERVICE_NAME": "modelwatch",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "ModelWatch",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    config = Registry(LocalStore(lake)).get(MODEL)
    run = {"model": MODEL, "run_id": "estimator-image-check", "monitors": configured(config)}
    event = json.dumps({**run, "config": config.model_dump(mode="json")})
    command = [sys.executable, "-I", "-S", str(runner), str(task), str(runtime), str(lake), event]
    result = subprocess.run(command, env=env, cwd=home, capture_output=True, text=True, check=False)  # noqa: S603
    for line in result.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            parsed: dict[str, object] = json.loads(line[len(RESULT_MARK) :])
            return parsed
    raise RuntimeError(f"handler run failed (exit {result.returncode}):\n{result.stderr[-4000:]}")


def main(argv: list[str] | None = None) -> int:
    """Install, run, report; exit 1 on any problem."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="reinstall into an empty folder even if unchanged")
    parser.add_argument("--dir", type=Path, default=CACHE / "estimator-image")
    parser.add_argument("--uv", help="install with this uv (same files as pip) instead of this interpreter's pip")
    args = parser.parse_args(argv)
    problems = dockerfile_problems()
    task = args.dir / "task"
    how = install(task, args.fresh, args.uv)
    add_code(task)
    runtime_folder(args.dir / "runtime")
    with tempfile.TemporaryDirectory(prefix="estimator-image-") as tmp:
        lake, home = Path(tmp) / "lake", Path(tmp) / "home"
        home.mkdir()
        fixture_lake(lake)
        try:
            result = run_handler(task, args.dir / "runtime", lake, home)
        except RuntimeError as exc:
            problems.append(str(exc))
            result = {}
        outcome = result.get("outcome")
        if result.get("outside"):
            problems.append(f"modules loaded from outside the image folder: {result['outside']}")
        if isinstance(outcome, dict):
            results_uri = outcome.get("results_uri")
            if not outcome.get("chunks_analysed") or not results_uri or not Path(str(results_uri)).is_file():
                problems.append(f"the fixture run analysed nothing or wrote no results: {outcome}")
            else:
                print(
                    f"estimator image: handler ran isolated: {outcome['chunks_analysed']} chunks analysed, "
                    f"metrics {outcome.get('metrics')}, report {'yes' if outcome.get('report_uri') else 'no'}; "
                    f"a second run reused {_field(result.get('again'), 'chunks_reused')} chunks"
                )
    size = dir_size(task)
    print(f"estimator image: task folder {mb(size)} ({how}); Lambda image limit {mb(IMAGE_LIMIT)}")
    if size > IMAGE_LIMIT:
        problems.append(f"image contents {mb(size)} exceed {mb(IMAGE_LIMIT)}")
    for problem in problems:
        print(f"estimator image: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("estimator image: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
