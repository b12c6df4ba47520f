"""Ground truth joined to captured rows by (inference id, row in request): what monitors that read labels get."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelwatch.config.model import ModelConfig, ProblemType
from modelwatch.constants import (
    COL_INFERENCE_ID,
    COL_LABEL_TIME,
    COL_ROW_IN_REQUEST,
    COL_SOURCE_KEY,
    COL_SOURCE_LINE,
    COL_SOURCE_MODIFIED,
    COL_Y_TRUE,
)
from modelwatch.errors import ConfigMismatchError
from modelwatch.monitors.frames import TARGET, usable_labels

if TYPE_CHECKING:
    import pandas as pd

_JOIN_KEYS = [COL_INFERENCE_ID, COL_ROW_IN_REQUEST]


@dataclass
class LabelJoin:
    """Analysis rows with `y_true` joined (missing where no usable label), and what was left out and why."""

    frame: pd.DataFrame
    label_rows: int = 0
    duplicates_dropped: int = 0
    unmatched_labels: int = 0  # labels for inference ids not among these captures (other windows)
    excluded_inference_ids: list[str] = field(default_factory=list)  # label count != captured row count
    excluded_label_rows: int = 0
    invalid_labels: int = 0  # outside the model's classes or not a finite number: never joined
    ambiguous_rows: int = 0  # captured rows sharing (inference_id, row_in_request) with another: no label joined

    def summary(self, limit: int = 20) -> dict[str, Any]:
        """Counts, and a sample of the excluded requests' inference ids (identifiers, never labels or payloads)."""
        return {
            "label_rows": self.label_rows,
            "duplicates_dropped": self.duplicates_dropped,
            "unmatched_labels": self.unmatched_labels,
            "excluded_inference_ids": len(self.excluded_inference_ids),
            "excluded_inference_id_sample": self.excluded_inference_ids[:limit],
            "excluded_label_rows": self.excluded_label_rows,
            "invalid_labels": self.invalid_labels,
            "ambiguous_rows": self.ambiguous_rows,
        }


def _empty_target(config: ModelConfig, frame: pd.DataFrame) -> pd.DataFrame:
    import numpy as np

    frame = frame.copy()
    frame[TARGET] = None if config.problem_type is ProblemType.MULTICLASS else np.nan
    if config.problem_type is ProblemType.MULTICLASS:
        frame[TARGET] = frame[TARGET].astype("object")
    return frame


def _id_text(ids: pd.Series) -> pd.Series:
    """Inference ids as text: Arrow-backed or pandas string columns as they are (no per-value Python objects),
    anything else through str()."""
    import pandas as pd

    if isinstance(ids.dtype, (pd.ArrowDtype, pd.StringDtype)) and pd.api.types.is_string_dtype(ids.dtype):
        return ids
    return ids.astype(str)


def join_labels(config: ModelConfig, analysis: pd.DataFrame, labels: pd.DataFrame | None) -> LabelJoin:
    """Left-join labels on (inference_id, row_in_request); what cannot be joined is counted, never an error.

    Duplicate labels keep the latest by (label_time, source_modified, source_key, source_line), as the lake
    reader does. Label groups whose count differs from the captured row count of their inference id are excluded
    (a label list that does not line up with the request's rows cannot be matched row by row) and reported. Labels
    outside the model's classes (or not finite numbers) are left out and counted; captured rows that share their
    (inference_id, row_in_request) with another row (two requests under one inference id) get no label. Only labels
    without the join's columns raise (ConfigMismatchError): the caller then analyses without labels.
    """
    if labels is None or labels.empty:
        return LabelJoin(frame=_empty_target(config, analysis))
    missing = [c for c in [*_JOIN_KEYS, COL_Y_TRUE] if c not in labels.columns]
    if missing:
        raise ConfigMismatchError(f"model {config.name}: ground-truth rows lack column(s) {missing}")
    order = [c for c in (COL_LABEL_TIME, COL_SOURCE_MODIFIED, COL_SOURCE_KEY, COL_SOURCE_LINE) if c in labels.columns]
    table = labels[[*_JOIN_KEYS, COL_Y_TRUE, *order]].copy()
    captured_ids = _id_text(analysis[COL_INFERENCE_ID])
    table[COL_INFERENCE_ID] = _id_text(table[COL_INFERENCE_ID])
    if table[COL_INFERENCE_ID].dtype != captured_ids.dtype:  # e.g. Arrow-backed lake ids vs str labels
        table[COL_INFERENCE_ID] = table[COL_INFERENCE_ID].astype(captured_ids.dtype)
    table[COL_ROW_IN_REQUEST] = table[COL_ROW_IN_REQUEST].astype("int64")
    table[TARGET], invalid = usable_labels(config, table[COL_Y_TRUE])
    invalid_labels = int(invalid.sum())
    if invalid_labels:
        table = table.loc[~invalid]
    if order:
        table = table.sort_values(order, kind="stable")
    deduplicated = table.drop_duplicates(subset=_JOIN_KEYS, keep="last")
    duplicates = len(table) - len(deduplicated)

    captured = captured_ids.value_counts()
    label_counts = deduplicated[COL_INFERENCE_ID].value_counts()
    known = label_counts.index.isin(captured.index)
    unmatched = int(label_counts[~known].sum())
    label_counts = label_counts[known]
    mismatched = label_counts[label_counts != captured.reindex(label_counts.index)]
    excluded_ids = sorted(str(i) for i in mismatched.index)
    usable = deduplicated[deduplicated[COL_INFERENCE_ID].isin(label_counts.index.difference(mismatched.index))]

    frame = analysis.copy()
    frame[COL_INFERENCE_ID] = captured_ids
    frame[COL_ROW_IN_REQUEST] = frame[COL_ROW_IN_REQUEST].astype("int64")
    joined = frame.merge(usable[[*_JOIN_KEYS, TARGET]], on=_JOIN_KEYS, how="left", validate="many_to_one")
    joined.index = frame.index
    ambiguous = frame.duplicated(_JOIN_KEYS, keep=False)
    if ambiguous.any():
        # Which of the rows sharing a key the label belongs to cannot be told: none gets it.
        joined.loc[ambiguous, TARGET] = None
    return LabelJoin(
        frame=joined,
        label_rows=len(labels),
        duplicates_dropped=duplicates,
        unmatched_labels=unmatched,
        excluded_inference_ids=excluded_ids,
        excluded_label_rows=int(mismatched.sum()),
        invalid_labels=invalid_labels,
        ambiguous_rows=int(ambiguous.sum()),
    )
