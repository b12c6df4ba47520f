"""Names shared by the code and template.yaml: environment variables, metrics, dimensions, lake prefixes."""

from __future__ import annotations

# Environment variables (set by template.yaml Globals/Function Environment; parsed once in config.settings).
ENV_LAKE_BUCKET = "LAKE_BUCKET"
ENV_STATE_TABLE = "STATE_TABLE"
ENV_CAPTURE_BUCKET = "CAPTURE_BUCKET"
ENV_CAPTURE_PREFIX = "CAPTURE_PREFIX"
ENV_GROUND_TRUTH_PREFIX = "GROUND_TRUTH_PREFIX"
ENV_MONITOR_STATE_MACHINE_ARN = "MONITOR_STATE_MACHINE_ARN"
ENV_NOTIFICATIONS_TOPIC_ARN = "NOTIFICATIONS_TOPIC_ARN"
ENV_ALARMS_TOPIC_ARN = "ALARMS_TOPIC_ARN"
ENV_METRIC_NAMESPACE = "METRIC_NAMESPACE"
ENV_REPORT_LINKS = "REPORT_LINKS"  # "console" (default) or "presigned"
ENV_STACK_NAME = "STACK_NAME"
ENV_ARTIFACT_KEY_ID = "ARTIFACT_KEY_ID"  # AnalyseFunction: the KMS HMAC key signing its stored artifacts
ENV_CLOCK_OVERRIDE = "MODELWATCH_CLOCK"  # local stack only: ISO time of the simulated clock

# Lake prefixes (captures/model=<name>/dt=YYYY-MM-DD/hour=HH/...).
LAKE_CAPTURES = "captures"
LAKE_GROUND_TRUTH = "ground_truth"
LAKE_QUARANTINE = "quarantine"
LAKE_RESULTS = "results"
LAKE_REPORTS = "reports"
LAKE_RUNS = "runs"  # each monitor's part of a run's results, before the run is assembled
LAKE_MODELS = "models"  # registry: models/<name>/config.yaml, reference.parquet, <monitor>/ baselines
LAKE_MANIFESTS = "manifests"  # compaction manifests

# CloudWatch.
DEFAULT_METRIC_NAMESPACE = "ModelWatch"
DIM_MODEL = "Model"
DIM_SEGMENT = "Segment"  # a segment of a model's rows (`segments:` in its config): `<column>=<value>`
DIM_VARIANT = "Variant"  # a production variant of a model that watches several (`variants:` in its config)
DIM_VERSION = "Version"  # a version of the model behind the endpoint, while more than one is live (`versions:`)
DIM_METRIC = "Metric"
DIM_KIND = "Kind"
KIND_ESTIMATED = "estimated"
KIND_REALIZED = "realized"
# The reason of a chunk an Analyse step left for the next run (its time ran out): the scheduled run re-runs for it
SKIP_DEFERRED = "deferred to the next run"
KIND_ERROR = "estimation_error"
KIND_LOWER_BOUND = "lower_confidence_bound"
KIND_UPPER_BOUND = "upper_confidence_bound"
METRIC_PERFORMANCE = "Performance"
# 1 while the model has an open paging incident (dimension Model); without dimensions: how many models have one.
# Published by every successful run, stamped at publication (the alarms keep their state between runs).
METRIC_ALERT_STATE = "AlertState"
METRIC_ALERT_DRILL = "AlertDrill"  # a fire drill's synthetic degradation (dimensions Model, Drill): never real
DIM_DRILL = "Drill"
METRIC_RUN_HEARTBEAT = "RunHeartbeat"  # 1 per successful run or fleet check with nothing to do (Model; and none)
METRIC_LABEL_COVERAGE = "LabelCoverage"  # label coverage of the newest chunk whose labels are due (Model)
METRIC_CAPTURED_ROWS = "CapturedRows"  # captured rows ingested (Model); ground truth is not counted
# Ingestion's counts are EMF lines (Powertools), which carry the service dimension (POWERTOOLS_SERVICE_NAME).
DIM_SERVICE = "service"
SERVICE_NAME = "modelwatch"
METRIC_RECORDS_DECODED = "RecordsDecoded"
METRIC_RECORDS_QUARANTINED = "RecordsQuarantined"
METRIC_ROWS_WITHOUT_PREDICTION = "RowsWithoutPrediction"
METRIC_INGEST_LAG = "IngestLagSeconds"
METRIC_INGEST_ERRORS = "IngestErrors"
METRIC_WORKFLOW_DURATION = "WorkflowDurationSeconds"
METRIC_WORKFLOW_FAILURES = "WorkflowFailures"
METRIC_FEATURES_DRIFTING = "FeaturesInDriftAlert"
METRIC_MISSING_RATE = "MissingValueRate"
DIM_FEATURE = "Feature"
CLOUDWATCH_MAX_AGE_DAYS = 14

# Per-model alarms (created by `register`, not owned by CloudFormation).
ALARM_PREFIX = "modelwatch"
ALARM_TAG_KEY = "modelwatch:model"
ALARM_STACK_TAG_KEY = "modelwatch:stack"

# State table keys (pk/sk) written by publishing: the ledger of published datapoints, a model's run state.
STATE_LEDGER_PK_PREFIX = "ledger#"
STATE_MODEL_PK_PREFIX = "model#"
STATE_MODEL_SK = "state"

# Decoded capture columns besides features and predictions.
COL_EVENT_ID = "event_id"
COL_INFERENCE_ID = "inference_id"
COL_ROW_IN_REQUEST = "row_in_request"
COL_INFERENCE_TIME = "inference_time"
COL_SOURCE_KEY = "source_key"
COL_Y_PRED = "y_pred"
COL_Y_PRED_PROBA = "y_pred_proba"
COL_Y_TRUE = "y_true"
COL_LABEL_TIME = "label_time"
COL_SOURCE_LINE = "source_line"
COL_SOURCE_MODIFIED = "source_modified"  # the source object's LastModified (dedup order)
# Captures: what was wrong with a row's feature values, which are stored as missing (null when nothing was):
# List(Struct{feature: Utf8, issue: Utf8}), one entry per damaged value, or one row-level entry (feature null).
COL_FEATURE_ISSUES = "feature_issues"
FEATURE_ISSUE_TYPE = "type"  # not a value of the feature's type (text in a numeric feature, a list or object)
FEATURE_ISSUE_NON_FINITE = "non_finite"  # NaN or infinity in a numeric feature
FEATURE_ISSUE_MISSING_KEY = "missing_key"  # a JSON request object without the feature's key (or path)
FEATURE_ISSUE_TOO_FEW_COLUMNS = "too_few_columns"  # row-level: a CSV/positional row with fewer values than features
FEATURE_ISSUE_TOO_MANY_COLUMNS = "too_many_columns"  # row-level: more values than features (all features missing)
# Captures: keys of a JSON request object that no feature reads, in the object's order (null when none).
COL_EXTRA_KEYS = "extra_keys"

# Ingestion: how far back (from a label's time) ground truth is matched to captures to find its hours.
GROUND_TRUTH_LOOKBACK_DAYS = 14
COL_CHUNK = "__mw_chunk"  # chunk number: epoch-aligned period index, or the size chunk's position in ingestion order

# Captures: which version of which source object a row came from, so the reader counts each record once.
COL_SOURCE_ID = "source_id"  # int64 digest of the source object's URI
COL_INGESTED_AT = "ingested_at"  # when ingestion wrote the row (orders two versions with the same LastModified)
# Operational metrics of counted-once reads and unmatched labels.
METRIC_DUPLICATE_ROWS = "DuplicateRows"  # per run: rows superseded or repeated among those it read
METRIC_UNMATCHED_LABELS = "UnmatchedLabels"  # per ground-truth object: labels no captured request had
# Model Monitor model-quality compatibility (issue 17): its dimension names for the bare metric names it publishes
# (accuracy, f2, mae, ...), and the lake areas of each labelled chunk's statistics.json and constraint violations
# under results/model=<m>/ (`<area>/dt=<day>/<chunk start>.json`, one JSON line each, for Athena).
DIM_ENDPOINT = "Endpoint"
DIM_MONITORING_SCHEDULE = "MonitoringSchedule"
LAKE_MODEL_QUALITY_STATISTICS = "model_quality_statistics"
LAKE_MODEL_QUALITY_VIOLATIONS = "model_quality_violations"

# Data quality and drift (issue 14): Model Monitor's data-quality metrics are `<family>_<feature>` (e.g.
# feature_baseline_drift_car_value) with DIM_ENDPOINT, DIM_MONITORING_SCHEDULE and DIM_FEATURE; modelwatch's own
# series, and the lake files of each analysed chunk under results/model=<m>/ (`violations/dt=<day>/<chunk start>.json`,
# `drift/dt=<day>/...parquet`).
DIM_OUTPUT = "Output"
METRIC_CONSTRAINT_VIOLATIONS = "ConstraintViolations"
METRIC_MULTIVARIATE_DRIFT = "MultivariateDriftError"
METRIC_PREDICTION_DRIFT = "PredictionDrift"
LAKE_VIOLATIONS = "violations"
LAKE_DRIFT = "drift"

# The Analyse function's allocators return freed memory to the system at once (template.yaml, the Analyse Dockerfile
# and `modelwatch run` set them before polars and pyarrow load): polars' jemalloc and Arrow's mimalloc pool kept it.
ALLOCATOR_ENVIRONMENT = {
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0",
}
