"""Data quality, compatible with SageMaker Model Monitor: its six checks per chunk against a `statistics.json` /
`constraints.json` baseline (configured, or suggested from the reference), `constraint_violations.json` per chunk
in the lake, CloudWatch metrics with Model Monitor's names and dimensions; and nannyml's data-quality calculators
(missing values, unseen values, numerical range) with their thresholds and alerts.

The Model Monitor baseline is JSON, never pickled: a configured one is read from where the config names it (the
lake copy `register` made, or a local path), a suggested one is written to `models/<model>/data_quality/` when the
monitor is fitted and read back from there. The cached pickle holds nannyml's fitted calculators and, for a
suggested baseline, the rules parsed from its files with the files' digest: a run reads the files and reuses the
parse while their bytes are the same (parsing 5 MB of sketches cost more than the checks of a chunk), so an edited
file still counts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    COL_EXTRA_KEYS,
    COL_FEATURE_ISSUES,
    DIM_ENDPOINT,
    DIM_FEATURE,
    DIM_MONITORING_SCHEDULE,
    METRIC_CONSTRAINT_VIOLATIONS,
)
from modelwatch.errors import ConfigError, LakeError
from modelwatch.lake.layout import constraint_violations_key, monitor_prefix
from modelwatch.lake.store import ObjectStore, parse_s3_uri
from modelwatch.monitors.base import AnalysisData, MetricPoint, Monitor, Publication
from modelwatch.monitors.drift import with_chunks
from modelwatch.monitors.frames import reference_hash
from modelwatch.monitors.mm_baseline import (
    CONSTRAINTS_FILE,
    STATISTICS_FILE,
    Baseline,
    BaselineRules,
    dumps,
    parse_baseline,
    suggest_baseline,
)
from modelwatch.monitors.mm_checks import (
    BASELINE_DRIFT_CHECK,
    COMPLETENESS_CHECK,
    chunk_issues,
    evaluate_window,
)
from modelwatch.monitors.nml import ESTIMATOR_SCHEMA, FIT_SEED, build_chunker, build_data_quality_calculators, fitted
from modelwatch.monitors.plots import Section, alert_markers, new_figure
from modelwatch.monitors.results import VALUE_FIELDS, ResultRow, empty_table
from modelwatch.units import model_dimensions

if TYPE_CHECKING:
    import pandas as pd

MONITOR = "data_quality"
KIND_CONSTRAINT = "constraint_check"  # metric = Model Monitor's check type; alert = a violation; detail = its text
KIND_NANNYML = "nannyml"  # metric = missing_values_rate | unseen_values_rate | numerical_range_rate
KIND_COUNTS = "counts"  # metric non_null | null per feature (Model Monitor's feature_non_null / feature_null)
SCHEMA = 1  # bump when the baseline's shape or the checks' meaning changes
SERIES_VIOLATIONS = "constraint_violations"
MAX_OPEN_VIOLATIONS = 50
MAX_REPORT_VIOLATIONS = 300
MAX_REPORT_RATE_FEATURES = 8
SOURCE_CONFIGURED = "configured"
SOURCE_SUGGESTED = "suggested"
SUGGESTED_STAMP = "suggested-from.json"  # which reference rows the suggested statistics/constraints came from


@dataclass
class DataQualityBaseline:
    """nannyml's fitted data-quality calculators (pickled) and the Model Monitor baseline (JSON, never pickled; the
    suggested one's parsed rules are, with the digest of the files they were parsed from)."""

    calculators: dict[str, Any]
    source: str
    documents: BaselineRules | None = None
    parsed: tuple[str, BaselineRules] | None = None  # a suggested baseline's files' digest and their rules

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["documents"] = None  # kept as statistics.json / constraints.json, read back when loaded
        if self.parsed is not None:
            state["parsed"] = (self.parsed[0], self.parsed[1].rules())  # the rules, not the documents
        return state


def documents_digest(statistics: bytes, constraints: bytes) -> str:
    """The digest of a baseline's two files as stored."""
    return hashlib.sha256(hashlib.sha256(statistics).digest() + hashlib.sha256(constraints).digest()).hexdigest()


def baseline_keys(model: str) -> tuple[str, str]:
    """Where a model's Model Monitor baseline lives: `models/<m>/data_quality/{statistics,constraints}.json`."""
    prefix = monitor_prefix(model, MONITOR)
    return prefix + STATISTICS_FILE, prefix + CONSTRAINTS_FILE


def read_document(location: str, store: ObjectStore | None, s3_client: Any = None) -> bytes:
    """A baseline file's bytes from a local path or an s3:// URI (the lake's through `store`, else `s3_client`)."""
    if location.startswith("s3://"):
        bucket, key = parse_s3_uri(location)
        if store is not None and bucket == getattr(store, "bucket", None):
            try:
                return store.get(key)
            except LakeError as exc:
                raise ConfigError(f"{location}: cannot read the Model Monitor baseline file: {exc}") from exc
        if s3_client is None:
            raise ConfigError(f"{location}: an s3:// baseline outside the lake needs an S3 client (register it)")
        try:
            return bytes(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:  # botocore ClientError (missing key, no access)
            raise ConfigError(f"{location}: cannot read the Model Monitor baseline file: {exc}") from exc
    try:
        return Path(location).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{location}: cannot read the Model Monitor baseline file: {exc.strerror}") from exc


def load_configured(config: ModelConfig, store: ObjectStore | None, s3_client: Any = None) -> Baseline | None:
    """The baseline the config names, validated (ConfigError naming the file and the field); None when it names
    none. Features of the baseline the model does not have are an error: the checks could never see them."""
    quality = config.data_quality
    if not quality.statistics or not quality.constraints:
        return None
    baseline = parse_baseline(
        read_document(quality.statistics, store, s3_client),
        read_document(quality.constraints, store, s3_client),
        quality.statistics,
        quality.constraints,
    )
    unknown = [name for name in baseline.features if name not in set(config.feature_names)]
    if unknown:
        index = [f.get("name") for f in baseline.constraints.get("features", [])].index(unknown[0])
        raise ConfigError(
            f"{quality.constraints}: invalid Model Monitor baseline: features[{index}].name: {unknown[0]!r} is not "
            f"a feature of model {config.name} (features: {config.feature_names})"
        )
    return baseline


def model_features(config: ModelConfig) -> list[tuple[str, str]]:
    return [(f.name, f.type) for f in config.features]


def nannyml_rates_block(metric: str, calculator: Any, data: AnalysisData) -> pd.DataFrame:
    """nannyml's data-quality calculators' `calculate` (missing, unseen and out-of-range values rates), every chunk and
    column at once: the same row-wise tests (`isnull`, `isin` the reference's values, outside the reference's range)
    summed per chunk, with the fitted sampling error, confidence bounds, thresholds and nannyml's alert rule (nannyml
    loops over chunks and columns, which made it half the monitor's time). Equal to nannyml's own results:
    tests/unit/monitors/test_nannyml_rates.py."""
    import numpy as np
    import pandas as pd
    from nannyml.sampling_error import SAMPLING_ERROR_RANGE

    frame = data.frame
    unique, position = data.chunk_groups
    totals = np.bincount(position, minlength=len(unique)).astype("float64")
    by_number = {c.number: c.key for c in data.chunks}
    keys = [by_number[int(n)] for n in unique]
    upper_limit = calculator.upper_threshold_value_limit
    lower_limit = calculator.lower_threshold_value_limit
    columns = list(calculator.column_names)
    if not columns:
        return pd.DataFrame()
    fields: dict[str, list[Any]] = {}  # each column's arrays, joined into one frame (a frame per column cost most)
    for column in columns:
        if metric == "missing_values_rate":
            hits = data.missing(column)
        elif metric == "unseen_values_rate":
            hits = ~frame[column].isin(calculator._categorical_seen_values[column]).to_numpy()
        else:
            low, high = calculator._reference_value_ranges[column]
            values = frame[column]
            hits = ((values < low) | (values > high)).to_numpy()
        rate = np.bincount(position, weights=hits.astype("float64"), minlength=len(unique)) / totals
        block: dict[str, Any] = {"value": rate}
        if metric == "missing_values_rate":
            component = calculator._sampling_error_components[column]
            error = np.sqrt(component * (1 - component)) / np.sqrt(totals)
            block["sampling_error"] = error
            block["upper_confidence_boundary"] = np.minimum(
                rate + SAMPLING_ERROR_RANGE * error, np.inf if upper_limit is None else upper_limit
            )
            block["lower_confidence_boundary"] = np.maximum(
                rate - SAMPLING_ERROR_RANGE * error, -np.inf if lower_limit is None else lower_limit
            )
        upper = calculator._upper_alert_thresholds[column]
        lower = calculator._lower_alert_thresholds[column]
        block["upper_threshold"] = np.full(len(rate), np.nan if upper is None else float(upper))
        block["lower_threshold"] = np.full(len(rate), np.nan if lower is None else float(lower))
        block["alert"] = (rate > (np.inf if upper is None else upper)) | (rate < (-np.inf if lower is None else lower))
        for name in VALUE_FIELDS:
            block.setdefault(name, np.full(len(rate), np.nan))  # unseen and range rates have no sampling error
        for name, value in block.items():
            fields.setdefault(name, []).append(value)
    table: dict[str, Any] = {
        "chunk_key": keys * len(columns),
        "metric": metric,
        "kind": KIND_NANNYML,
        "feature": np.repeat(np.asarray(columns, dtype="object"), len(keys)),
    }
    table.update({name: np.concatenate(parts) for name, parts in fields.items()})
    return pd.DataFrame(table)


class DataQualityMonitor(Monitor):
    """Model Monitor's six checks and nannyml's data-quality calculators per chunk."""

    name: ClassVar[str] = MONITOR
    baseline_type: ClassVar[type] = DataQualityBaseline
    reads_issues: ClassVar[bool] = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self._store: ObjectStore | None = None
        self._configured: Baseline | None = None
        self._configured_sha256: str | None = None

    @classmethod
    def enabled(cls, config: Any) -> bool:
        return bool(config.data_quality.enabled)

    def columns(self) -> list[str]:
        return self.config.feature_names

    def bind(self, store: ObjectStore, now: datetime) -> None:
        """Read the configured baseline (if any): its content keys the cached fit."""
        self._store = store
        self._configured = load_configured(self.config, store)
        if self._configured is not None:
            digest = hashlib.sha256()
            for document in (self._configured.statistics, self._configured.constraints):
                digest.update(json.dumps(document, sort_keys=True).encode())
            self._configured_sha256 = digest.hexdigest()

    def fitting_key(self) -> dict[str, Any]:
        return {
            "schema": ESTIMATOR_SCHEMA,
            "data_quality": SCHEMA,
            "features": [f.model_dump(mode="json") for f in self.config.features],
            "chunking": self.config.chunking.model_dump(mode="json"),
            "configured_baseline": self._configured_sha256,
            "fit_seed": FIT_SEED,
        }

    def fit(self, reference: pd.DataFrame) -> DataQualityBaseline:
        config = self.config
        calculators = {
            name: fitted(config, calculator, reference)
            for name, calculator in build_data_quality_calculators(config, build_chunker(config)).items()
        }
        baseline = DataQualityBaseline(calculators, SOURCE_CONFIGURED if self._configured else SOURCE_SUGGESTED)
        if self._configured is not None:
            baseline.documents = self._configured
        else:
            baseline.parsed = self._suggest(reference)
            baseline.documents = baseline.parsed[1]
        return baseline

    def _suggest(self, reference: pd.DataFrame) -> tuple[str, BaselineRules]:
        """The baseline suggested from the reference, written to the lake (the monitor's baseline, JSON), with its
        files' digest. KLL sketches are randomised (as deequ's are in Model Monitor): a baseline already suggested
        from the same reference rows is kept, so refits in one lake (new library versions, a refused pickle) change
        nothing."""
        stamp = self._stamp(reference)
        stamp_key = monitor_prefix(self.config.name, MONITOR) + SUGGESTED_STAMP
        if self._store is not None:
            try:
                if json.loads(self._store.get(stamp_key)).get("stamp") == stamp:
                    stored = self._stored_suggestion()
                    if stored is not None:
                        return stored
            except (LakeError, ValueError, ConfigError, AttributeError):
                pass  # no (readable) earlier suggestion: suggest anew
        suggested = suggest_baseline(model_features(self.config), reference)
        statistics, constraints = dumps(suggested.statistics), dumps(suggested.constraints)
        if self._store is not None:
            statistics_key, constraints_key = baseline_keys(self.config.name)
            self._store.put(statistics_key, statistics, "application/json")
            self._store.put(constraints_key, constraints, "application/json")
            self._store.put(stamp_key, json.dumps({"stamp": stamp}).encode(), "application/json")
        return documents_digest(statistics, constraints), suggested

    def _stamp(self, reference: pd.DataFrame) -> str:
        """What a suggestion depends on: the reference's feature values and the features' names and types."""
        digest = hashlib.sha256(json.dumps([SCHEMA, model_features(self.config)]).encode())
        digest.update(reference_hash(reference[self.config.feature_names]).encode())
        return digest.hexdigest()

    def incomplete(self, baseline: DataQualityBaseline, data: AnalysisData) -> bool:
        """A cached fit without its Model Monitor baseline: read it back (configured, or the suggested files, whose
        cached parse is reused while their bytes are the same); incomplete when the suggested files are gone (then
        suggested again) or were parsed anew (then cached with their parse, once per change of the files)."""
        if baseline.documents is not None:
            return False
        if self._configured is not None:
            baseline.documents = self._configured
            return False
        stored = self._stored_suggestion(baseline.parsed)
        if stored is None:
            return True
        reparsed = baseline.parsed is None or baseline.parsed[0] != stored[0]
        baseline.parsed, baseline.documents = stored, stored[1]
        return reparsed

    def complete(self, baseline: DataQualityBaseline, reference: pd.DataFrame, data: AnalysisData) -> None:
        if baseline.documents is None:
            baseline.parsed = self._suggest(reference)
            baseline.documents = baseline.parsed[1]

    def _stored_suggestion(self, parsed: tuple[str, BaselineRules] | None = None) -> tuple[str, BaselineRules] | None:
        """The suggested files in the lake and their digest: `parsed`'s rules when they were parsed from these very
        bytes, else parsed (and validated) now; None when the files are not there."""
        if self._store is None:
            return None
        statistics_key, constraints_key = baseline_keys(self.config.name)
        try:
            statistics, constraints = self._store.get(statistics_key), self._store.get(constraints_key)
        except LakeError:
            return None
        digest = documents_digest(statistics, constraints)
        if parsed is not None and parsed[0] == digest:
            return parsed
        rules = parse_baseline(
            statistics, constraints, self._store.uri(statistics_key), self._store.uri(constraints_key)
        )
        return digest, rules

    def analyse(self, baseline: DataQualityBaseline, data: AnalysisData) -> pd.DataFrame:
        import pandas as pd

        config = self.config
        blocks: list[Any] = [
            nannyml_rates_block(metric, calculator, data) for metric, calculator in baseline.calculators.items()
        ]
        if self.incomplete(baseline, data):
            raise ConfigError(f"model {config.name}: the Model Monitor baseline is missing; refit needed")
        assert baseline.documents is not None
        blocks.append(self._checks(baseline.documents, data))
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            return empty_table()
        return with_chunks(pd.concat(blocks, ignore_index=True), data.chunks, MONITOR)

    def _checks(self, documents: BaselineRules, data: AnalysisData) -> pd.DataFrame:
        """The six checks per chunk, and each feature's non-null and null counts."""
        import numpy as np
        import pandas as pd

        frame = data.frame
        by_number = {c.number: c.key for c in data.chunks}
        features = self.config.feature_names
        unique, position = data.chunk_groups
        rows = np.bincount(position, minlength=len(unique))
        # Each chunk's rows by position (one sort) for the issue columns, counted in Python per chunk
        order = np.argsort(position, kind="stable")
        ends = np.cumsum(rows)
        issue_columns = [
            frame[c].to_numpy() if c in frame.columns else None for c in (COL_FEATURE_ISSUES, COL_EXTRA_KEYS)
        ]
        issues = [
            chunk_issues(*(None if c is None else c[order[end - count : end]] for c in issue_columns))
            for count, end in zip(rows.tolist(), ends.tolist(), strict=True)
        ]
        columns = {f: frame[f].to_numpy() for f in features}
        missing = {f: data.missing(f) for f in features}
        results = evaluate_window(documents, columns, position, rows.tolist(), issues, missing)
        present_all = {f: np.bincount(position[~missing[f]], minlength=len(unique)) for f in features}
        records: list[dict[str, Any]] = []
        for chunk, number in enumerate(unique.tolist()):
            key = by_number.get(int(number))
            if key is None:
                continue
            for result in results[chunk]:
                records.append(
                    {
                        "chunk_key": key,
                        "metric": result.check,
                        "kind": KIND_CONSTRAINT,
                        "feature": result.feature,
                        "value": result.value,
                        "lower_threshold": result.lower_threshold,
                        "upper_threshold": result.upper_threshold,
                        "alert": result.violation,
                        "detail": result.description if result.violation else None,
                    }
                )
            count = int(rows[chunk])
            for feature in features:
                present = int(present_all[feature][chunk])
                damaged = sum(issues[chunk].count(feature, code) for code in ("type", "non_finite"))
                for metric, value in (("non_null", present + damaged), ("null", count - present - damaged)):
                    records.append(
                        {
                            "chunk_key": key,
                            "metric": metric,
                            "kind": KIND_COUNTS,
                            "feature": feature,
                            "value": float(value),
                            "alert": False,
                        }
                    )
        return pd.DataFrame.from_records(records)

    def lake_files(self, table: pd.DataFrame) -> dict[str, bytes]:
        """Model Monitor's `constraint_violations.json` of each analysed chunk (one JSON line for Athena, with the
        model and the chunk's window beside `violations`)."""
        files: dict[str, bytes] = {}
        ours = table.loc[table["monitor"] == MONITOR]
        ends = ours.groupby("chunk_start", sort=True)["chunk_end"].first()
        violated = ours.loc[(ours["kind"] == KIND_CONSTRAINT) & ours["alert"]]
        found: dict[Any, list[dict[str, str]]] = {}
        for start, feature, metric, detail in zip(
            violated["chunk_start"], violated["feature"], violated["metric"], violated["detail"], strict=True
        ):
            found.setdefault(start, []).append(
                {"feature_name": str(feature), "constraint_check_type": str(metric), "description": str(detail or "")}
            )
        for start, end in ends.items():
            document = {
                "violations": found.get(start, []),
                "model": self.config.name,
                "chunk_start": _iso(start),
                "chunk_end": _iso(end),
            }
            files[constraint_violations_key(self.config.name, _aware(start))] = (
                json.dumps(document, separators=(",", ":")) + "\n"
            ).encode()
        return files

    def summarise(self, table: pd.DataFrame) -> dict[str, Any]:
        """Violations per chunk, the latest chunk's ("open") violations, nannyml's data-quality alerts."""
        mine = table.loc[table["monitor"] == MONITOR]
        checks = mine.loc[mine["kind"] == KIND_CONSTRAINT]
        per_chunk = [
            {"chunk_start": _iso(start), "violations": int(rows["alert"].sum())}
            for start, rows in checks.groupby("chunk_start", sort=True)
        ]
        open_violations: list[dict[str, Any]] = []
        latest = None
        if len(mine):
            latest = mine["chunk_start"].max()
            rows = checks.loc[(checks["chunk_start"] == latest) & checks["alert"]]
            open_violations = [
                {"feature_name": r.feature, "constraint_check_type": r.metric, "description": r.detail}
                for r in rows.head(MAX_OPEN_VIOLATIONS).itertuples()
            ]
        nannyml_alerts = mine.loc[(mine["kind"] == KIND_NANNYML) & mine["alert"]]
        return {
            "latest_chunk": _iso(latest) if latest is not None else None,
            "open_violations": open_violations,
            "open_violations_total": int(
                checks.loc[(checks["chunk_start"] == latest) & checks["alert"]].shape[0] if latest is not None else 0
            ),
            "violations_total": int(checks["alert"].sum()),
            "nannyml_alerts_total": len(nannyml_alerts),
            "per_chunk": per_chunk,
        }

    def report(self, table: pd.DataFrame, summary: dict[str, Any]) -> list[Section]:
        """The violations table and nannyml's data-quality rates of the features with alerts."""
        mine = table.loc[table["monitor"] == MONITOR]
        if not len(mine):
            return []
        checks = mine.loc[(mine["kind"] == KIND_CONSTRAINT) & mine["alert"]]
        sections = [
            Section("Data quality: constraint violations (Model Monitor's checks)", partial(violations_figure, checks))
        ]
        rates = mine.loc[mine["kind"] == KIND_NANNYML]
        alerted = rates.loc[rates["alert"], "feature"].unique().tolist()
        if alerted:
            sections.append(
                Section(
                    "Data quality: nannyml's calculators (features with alerts)", partial(rates_figure, rates, alerted)
                )
            )
        return sections

    def publish(self, rows: list[ResultRow], summary: dict[str, Any]) -> Publication:
        """Constraint violations per chunk (Model); Model Monitor's per-feature metrics in its namespace
        (`<family>_<feature>` with Endpoint, MonitoringSchedule, Feature) for the configured families and
        features. Violations are not notified: the report, the lake and `modelwatch status` show them."""
        out = Publication()
        config = self.config
        quality = config.data_quality
        counts: dict[Any, int] = {}
        by_key: dict[tuple[Any, str, str], ResultRow] = {}
        for row in rows:
            if row.kind == KIND_CONSTRAINT:
                counts[row.chunk_start] = counts.get(row.chunk_start, 0) + int(row.alert)
            if row.feature is not None:
                by_key[(row.chunk_start, row.metric, row.feature)] = row
        for start, count in sorted(counts.items()):
            out.points.append(
                MetricPoint(
                    METRIC_CONSTRAINT_VIOLATIONS,
                    model_dimensions(config.name),
                    start,
                    float(count),
                    series=SERIES_VIOLATIONS,
                    ledger_metric=METRIC_CONSTRAINT_VIOLATIONS,
                    unit="Count",
                )
            )
        features = quality.metric_features if quality.metric_features is not None else config.feature_names
        schedule = config.data_quality_schedule
        starts = sorted({r.chunk_start for r in rows if r.kind == KIND_COUNTS})
        for start in starts:
            for feature in features:
                values = _model_monitor_values(by_key, start, feature)
                for family in quality.metrics:
                    value = values.get(family)
                    if value is None:
                        continue
                    out.points.append(
                        MetricPoint(
                            f"{family}_{feature}",
                            (
                                (DIM_ENDPOINT, config.endpoint),
                                (DIM_MONITORING_SCHEDULE, schedule),
                                (DIM_FEATURE, feature),
                            ),
                            start,
                            value,
                            series=f"mm_{family}",
                            ledger_metric=feature,
                            namespace=quality.namespace,
                            detail=True,  # per feature
                        )
                    )
        return out


def _model_monitor_values(by_key: dict[tuple[Any, str, str], ResultRow], start: Any, feature: str) -> dict[str, float]:
    """Model Monitor's per-feature values of a chunk: non-null and null counts, completeness, baseline drift."""
    values: dict[str, float] = {}
    non_null = by_key.get((start, "non_null", feature))
    null = by_key.get((start, "null", feature))
    if non_null is not None and non_null.value is not None:
        values["feature_non_null"] = non_null.value
    if null is not None and null.value is not None:
        values["feature_null"] = null.value
    completeness = by_key.get((start, COMPLETENESS_CHECK, feature))
    if completeness is not None and completeness.value is not None:
        values["feature_completeness"] = completeness.value
    elif non_null is not None and null is not None and non_null.value is not None and null.value is not None:
        total = non_null.value + null.value
        if total:
            values["feature_completeness"] = non_null.value / total
    drift = by_key.get((start, BASELINE_DRIFT_CHECK, feature))
    if drift is not None and drift.value is not None:
        values["feature_baseline_drift"] = drift.value
    return values


def violations_figure(rows: pd.DataFrame) -> Any:
    """The window's violations, latest first: chunk, feature, check and Model Monitor's description."""
    import plotly.graph_objects as go

    ordered = rows.sort_values(["chunk_start", "feature", "metric"], ascending=[False, True, True]).head(
        MAX_REPORT_VIOLATIONS
    )
    cells = [
        [_iso(s) for s in ordered["chunk_start"]],
        ordered["feature"].astype(str).tolist(),
        ordered["metric"].astype(str).tolist(),
        ordered["detail"].fillna("").astype(str).tolist(),
    ]
    figure = new_figure(
        go.Table(
            header={"values": ["chunk start (UTC)", "feature", "check", "description"], "align": "left"},
            cells={"values": cells, "align": "left"},
            columnwidth=[18, 16, 18, 48],
        )
    )
    title = f"{len(rows)} violation(s) in the window" + (
        " (latest 300 shown)" if len(rows) > MAX_REPORT_VIOLATIONS else ""
    )
    if not len(rows):
        title = "No constraint violations in the window"
    figure.update_layout(title=title, height=min(900, 160 + 24 * max(1, len(ordered))))
    return figure


def rates_figure(rows: pd.DataFrame, features: list[str]) -> Any:
    """nannyml's data-quality rates per chunk of the given features with the most alerts (at most
    MAX_REPORT_RATE_FEATURES: more lines are unreadable, and slow to draw), alerts marked."""
    figure = new_figure()
    alerts_by_feature = rows.loc[rows["feature"].isin(features)].groupby("feature")["alert"].sum()
    shown = alerts_by_feature.sort_values(ascending=False, kind="stable").index[:MAX_REPORT_RATE_FEATURES].tolist()
    for (metric, feature), mine in rows.loc[rows["feature"].isin(shown)].groupby(["metric", "feature"], sort=True):
        mine = mine.sort_values("chunk_start")
        x = [t.isoformat() for t in mine["chunk_start"]]
        figure.add_scatter(x=x, y=mine["value"].tolist(), mode="lines+markers", name=f"{feature} {metric}")
        alert_markers(figure, mine, f"{feature} alert")
    figure.update_layout(
        title="nannyml data quality: missing, unseen and out-of-range value rates",
        xaxis_title="Chunk start (UTC)",
        height=380,
    )
    return figure


def _iso(value: Any) -> str:
    import pandas as pd

    return pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")


def _aware(value: Any) -> Any:
    import pandas as pd

    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()
