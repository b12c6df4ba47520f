"""Where things live in the lake: `<area>/model=<name>/dt=YYYY-MM-DD/hour=HH/<file>` and friends."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from modelwatch.clock import to_utc
from modelwatch.constants import (
    LAKE_CAPTURES,
    LAKE_DRIFT,
    LAKE_GROUND_TRUTH,
    LAKE_MANIFESTS,
    LAKE_MODEL_QUALITY_STATISTICS,
    LAKE_MODEL_QUALITY_VIOLATIONS,
    LAKE_MODELS,
    LAKE_QUARANTINE,
    LAKE_REPORTS,
    LAKE_RESULTS,
    LAKE_RUNS,
    LAKE_VIOLATIONS,
)

AREAS = (LAKE_CAPTURES, LAKE_GROUND_TRUTH, LAKE_QUARANTINE, LAKE_RESULTS, LAKE_REPORTS)
PARQUET_SUFFIX = ".parquet"  # data files; anything else in a partition folder is not read as rows


@dataclass(frozen=True)
class Partition:
    """One hourly partition of one model in one lake area."""

    area: str
    model: str
    dt: str  # YYYY-MM-DD
    hour: str  # HH

    @classmethod
    def of(cls, area: str, model: str, when: datetime) -> Partition:
        when = to_utc(when)
        return cls(area, model, when.strftime("%Y-%m-%d"), when.strftime("%H"))

    @property
    def prefix(self) -> str:
        return f"{self.area}/model={self.model}/dt={self.dt}/hour={self.hour}/"

    def key(self, file_name: str) -> str:
        return self.prefix + file_name


def model_prefix(area: str, model: str) -> str:
    """The prefix of all partitions of one model in one area."""
    return f"{area}/model={model}/"


def source_file_stem(source_key: str, version: str) -> str:
    """Deterministic file stem for one source object version (its key plus ETag or VersionId)."""
    return hashlib.sha256(f"{source_key}\0{version}".encode()).hexdigest()[:32]


def parse_partition(key: str) -> Partition | None:
    """Read the partition back from a lake key; None when the key is not in the layout."""
    parts = key.split("/")
    if len(parts) < 5 or parts[0] not in AREAS:
        return None
    try:
        model = parts[1].removeprefix("model=")
        dt = parts[2].removeprefix("dt=")
        hour = parts[3].removeprefix("hour=")
    except IndexError:
        return None
    if not (parts[1].startswith("model=") and parts[2].startswith("dt=") and parts[3].startswith("hour=")):
        return None
    return Partition(parts[0], model, dt, hour)


def manifest_key(partition: Partition) -> str:
    """The compaction manifest of a partition; readers honour it (see lake.reader)."""
    return f"{LAKE_MANIFESTS}/{partition.prefix}manifest.json"


def model_config_key(model: str) -> str:
    return f"{LAKE_MODELS}/{model}/config.yaml"


def model_reference_key(model: str) -> str:
    return f"{LAKE_MODELS}/{model}/reference.parquet"


VERSIONS_FOLDER = "versions"  # models/<m>/versions/<version>/: a model version's own reference


def model_version_reference_key(model: str, version: str) -> str:
    """Where `register --version` keeps a model version's reference data."""
    return f"{LAKE_MODELS}/{model}/{VERSIONS_FOLDER}/{version}/reference.parquet"


VARIANTS_FOLDER = "variants"  # models/<m>/variants/<variant>: a variant found under the endpoint (`variants: "*"`)


def model_variant_key(model: str, variant: str) -> str:
    """The marker of a variant a model watching every variant has seen captures of."""
    return f"{LAKE_MODELS}/{model}/{VARIANTS_FOLDER}/{variant}"


def monitor_prefix(model: str, monitor: str) -> str:
    """Where a model's monitor keeps its fitted baseline and its stored analysis: `models/<m>/<monitor>/`."""
    return f"{LAKE_MODELS}/{model}/{monitor}/"


def results_key(model: str, run_id: str) -> str:
    """The run's results table (every monitor's rows)."""
    return f"{LAKE_RESULTS}/model={model}/run={run_id}/results.parquet"


def monitor_results_key(model: str, run_id: str, monitor: str) -> str:
    """One monitor's part of a run's results, written by its analysis step before the run is assembled (outside
    `results/`, so a table over the results area never reads a row twice)."""
    return f"{LAKE_RUNS}/model={model}/run={run_id}/{monitor}.parquet"


def report_key(model: str, run_id: str) -> str:
    return f"{LAKE_REPORTS}/model={model}/run={run_id}/report.html"


# The report folder's shared pages (#20): one copy of plotly.js for every report (each report loads it by relative
# path), the fleet's index, each model's index, and each run's verdict (what the indexes list).
def plotly_key(version: str) -> str:
    return f"{LAKE_REPORTS}/plotly-{version}.min.js"


def fleet_index_key() -> str:
    return f"{LAKE_REPORTS}/index.html"


def fleet_latest_key() -> str:
    """Each model's latest run, the fleet index's source (publishing.pages.update_fleet)."""
    return f"{LAKE_REPORTS}/fleet.json"


def model_index_key(model: str) -> str:
    return f"{LAKE_REPORTS}/model={model}/index.html"


def verdict_key(model: str, run_id: str) -> str:
    return f"{LAKE_REPORTS}/model={model}/run={run_id}/verdict.json"


def model_quality_keys(model: str, chunk_start: datetime) -> tuple[str, str]:
    """Model Monitor's model-quality statistics.json and constraint violations of one analysed chunk (one JSON line
    each): `results/model=<m>/model_quality_{statistics,violations}/dt=<day>/<chunk start>.json`."""
    when = to_utc(chunk_start)
    name = f"dt={when:%Y-%m-%d}/{when:%Y%m%dT%H%M%SZ}.json"
    return (
        f"{LAKE_RESULTS}/model={model}/{LAKE_MODEL_QUALITY_STATISTICS}/{name}",
        f"{LAKE_RESULTS}/model={model}/{LAKE_MODEL_QUALITY_VIOLATIONS}/{name}",
    )


def violations_key(model: str, monitor: str, chunk_start: datetime) -> str:
    """Clarify's constraint violations of one chunk a monitor analysed (bias, attribution), as Clarify writes them
    per monitoring execution: `results/model=<m>/<monitor>_violations/dt=<day>/<chunk start>.json`."""
    when = to_utc(chunk_start)
    return f"{LAKE_RESULTS}/model={model}/{monitor}_violations/dt={when:%Y-%m-%d}/{when:%Y%m%dT%H%M%SZ}.json"


def _chunk_stem(chunk_start: datetime) -> tuple[str, str]:
    when = to_utc(chunk_start)
    return when.strftime("%Y-%m-%d"), when.strftime("%Y%m%dT%H%M%SZ")


def constraint_violations_key(model: str, chunk_start: datetime) -> str:
    """Model Monitor's data-quality `constraint_violations.json` of one analysed chunk (one JSON line, for Athena's
    `violations` table)."""
    day, stem = _chunk_stem(chunk_start)
    return f"{LAKE_RESULTS}/model={model}/{LAKE_VIOLATIONS}/dt={day}/{stem}.json"


def drift_key(model: str, chunk_start: datetime) -> str:
    """The drift results rows of one analysed chunk (the results table's columns), for Athena."""
    day, stem = _chunk_stem(chunk_start)
    return f"{LAKE_RESULTS}/model={model}/{LAKE_DRIFT}/dt={day}/{stem}.parquet"
