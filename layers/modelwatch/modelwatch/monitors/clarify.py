"""Clarify's bias metrics on boolean facet, label and prediction arrays, as smclarify 0.5 computes them.

Same formulas, same conventions: `divide` gives 0 for 0/0 and ±inf for x/0, a difference of two infinite ratios is
0, a metric that cannot be computed (an empty facet, no positive label, ...) is an error with a reason instead of a
value. Counting with numpy instead of smclarify's pandas filters and Python loops keeps a chunk's metrics in
milliseconds; tests/unit/monitors/test_clarify.py checks every metric against smclarify on the same rows.

Imports numpy and scikit-learn only inside functions: publishing imports the monitors, and the zip functions have
neither.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

INFINITY = float("inf")
# smclarify's FlipTest: k nearest neighbours of facet a's predicted labels, one when facet a has few rows.
FT_NEIGHBOURS = 5
FT_MIN_NEIGHBOURS = 1
FT_SAMPLES_THRESHOLD = 9

PRE_TRAINING = "Pre-training"  # Clarify's BiasStage dimension values
POST_TRAINING = "Post-Training"
# Metrics that need no label: computed on every row of a complete chunk.
FLIP_TEST = "FT"  # the one metric reading the features (a k-nearest-neighbour search)
LABEL_FREE = frozenset({"CI", "DPPL", "DI", FLIP_TEST, "CDDPL"})
# Label-dependent differences of per-facet performance that CBPE can estimate before labels arrive.
ESTIMABLE = ("AD", "RD", "SD", "DAR", "DRR")
NEUTRAL = {"DI": 1.0}  # every other metric's neutral point is 0
DESCRIPTIONS = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Liebler Divergence (KL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "LP": "L-p Norm (LP)",
    "TVD": "Total Variation Distance (TVD)",
    "KS": "Kolmogorov-Smirnov Distance (KS)",
    "CDDL": "Conditional Demographic Disparity in Labels (CDDL)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "DCA": "Difference in Conditional Acceptance (DCA)",
    "DCR": "Difference in Conditional Rejection (DCR)",
    "RD": "Recall Difference (RD)",
    "SD": "Specificity Difference (SD)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DRR": "Difference in Rejection Rates (DRR)",
    "AD": "Accuracy Difference (AD)",
    "TE": "Treatment Equality (TE)",
    "FT": "Flip Test (FT)",
    "CDDPL": "Conditional Demographic Disparity in Predicted Labels (CDDPL)",
    "GE": "Generalized Entropy (GE)",
}
PRE_TRAINING_METRICS = frozenset({"CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "CDDL"})


def stage(metric: str) -> str:
    """Clarify's BiasStage of a metric."""
    return PRE_TRAINING if metric in PRE_TRAINING_METRICS else POST_TRAINING


def neutral(metric: str) -> float:
    """The value of a metric without bias (DI's is 1, every other's 0)."""
    return NEUTRAL.get(metric, 0.0)


class BiasMetricError(ValueError):
    """A metric that cannot be computed on these rows (Clarify reports it as an error, not a value)."""


@dataclass(frozen=True)
class MetricValue:
    """One metric's value, or why it has none."""

    value: float | None
    error: str | None = None


@dataclass(frozen=True)
class Rows:
    """The boolean arrays a chunk's metrics read: facet d, positive predicted label, positive label (None: no
    labels), the group variable (CDDL/CDDPL) and facet a's and d's numeric features (FT)."""

    facet: np.ndarray
    predicted: np.ndarray
    label: np.ndarray | None = None
    group: np.ndarray | None = None
    features: np.ndarray | None = None


def divide(a: float, b: float) -> float:
    """smclarify's division: 0 for 0/0, ±inf for x/0."""
    if b == 0 and a == 0:
        return 0.0
    if b == 0:
        return -INFINITY if a < 0 else INFINITY
    return a / b


def _count(mask: np.ndarray) -> int:
    import numpy as np

    return int(np.count_nonzero(mask))


def _facet_sizes(d: np.ndarray) -> tuple[int, int]:
    nd = _count(d)
    na = len(d) - nd
    if nd == 0:
        raise BiasMetricError("facet set is empty")
    if na == 0:
        raise BiasMetricError("negated facet set is empty")
    return na, nd


def _ci(d: np.ndarray) -> float:
    na, nd = _facet_sizes(d)
    return float(na - nd) / (na + nd)


def _dpl(d: np.ndarray, positive: np.ndarray) -> float:
    na, nd = _facet_sizes(d)
    return _count(~d & positive) / na - _count(d & positive) / nd


def _aligned_pdfs(d: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The label distributions of facets a and d over the values both have (smclarify's pdfs_aligned_nonzero)."""
    import numpy as np

    pa, pd_ = [], []
    na, nd = len(d) - _count(d), _count(d)
    for value in (False, True):  # smclarify sorts the values
        ca, cd = _count(~d & (label == value)), _count(d & (label == value))
        if ca and cd:
            pa.append(ca / na)
            pd_.append(cd / nd)
    if not pa:
        raise BiasMetricError("no label value common to both facets")
    return np.array(pa), np.array(pd_)


def _kl(d: np.ndarray, label: np.ndarray) -> float:
    import numpy as np

    pa, pd_ = _aligned_pdfs(d, label)
    return float(np.sum(pa * np.log(pa / pd_)))


def _js(d: np.ndarray, label: np.ndarray) -> float:
    import numpy as np

    pa, pd_ = _aligned_pdfs(d, label)
    p = 1 / 2 * (pa + pd_)
    return float(0.5 * (np.sum(pa * np.log(pa / p)) + np.sum(pd_ * np.log(pd_ / p))))


def _lp(d: np.ndarray, label: np.ndarray, order: float) -> float:
    import numpy as np

    pa, pd_ = _aligned_pdfs(d, label)
    return float(np.linalg.norm(pa - pd_, order))


def _cdd(d: np.ndarray, positive: np.ndarray, group: np.ndarray | None) -> float:
    import numpy as np

    if group is None or len(group) == 0:
        raise BiasMetricError("group variable is empty or not provided")
    if _count(positive) == 0:
        raise BiasMetricError("no positive labels in set")
    if _count(~positive) == 0:
        raise BiasMetricError("no negative labels in set")
    counts, disparities = [], []
    for value in np.unique(group):
        in_group = group == value
        counts.append(_count(in_group))
        accepted = _count(positive & in_group)
        rejected = _count(~positive & in_group)
        share_accepted = _count(positive & d & in_group) / accepted if accepted != 0 else 0
        share_rejected = _count(~positive & d & in_group) / rejected if rejected != 0 else 0
        disparities.append(share_rejected - share_accepted)
    sizes = np.array(counts, dtype="float64")
    return divide(float(np.sum(sizes * np.array(disparities, dtype="float64"))), float(np.sum(sizes)))


def _di(d: np.ndarray, predicted: np.ndarray) -> float:
    na, nd = _facet_sizes(d)
    return divide(_count(d & predicted) / nd, _count(~d & predicted) / na)


def _difference(first: float, second: float) -> float:
    """first - second, and 0 when both are infinite (smclarify's convention for ratios of empty counts)."""
    if first == second and first == INFINITY:
        return 0.0
    return first - second


def _quadrants(d: np.ndarray, y: np.ndarray, p: np.ndarray) -> dict[str, int]:
    """TP, FP, FN, TN of facet a (`_a`) and facet d (`_d`)."""
    found = {}
    for suffix, rows in (("a", ~d), ("d", d)):
        found[f"tp_{suffix}"] = _count(rows & y & p)
        found[f"fp_{suffix}"] = _count(rows & ~y & p)
        found[f"fn_{suffix}"] = _count(rows & y & ~p)
        found[f"tn_{suffix}"] = _count(rows & ~y & ~p)
    return found


def _label_metric(name: str, d: np.ndarray, y: np.ndarray, p: np.ndarray) -> float:
    _facet_sizes(d)
    q = _quadrants(d, y, p)
    if name == "DCA":  # na(1)/n'a(1) - nd(1)/n'd(1)
        accept_a = divide(q["tp_a"] + q["fn_a"], q["tp_a"] + q["fp_a"])
        accept_d = divide(q["tp_d"] + q["fn_d"], q["tp_d"] + q["fp_d"])
        return _difference(accept_a, accept_d)
    if name == "DCR":  # nd(0)/n'd(0) - na(0)/n'a(0)
        rr_a = divide(q["tn_a"] + q["fp_a"], q["tn_a"] + q["fn_a"])
        rr_d = divide(q["tn_d"] + q["fp_d"], q["tn_d"] + q["fn_d"])
        return 0.0 if rr_a == rr_d and rr_a == INFINITY else rr_d - rr_a
    if name == "RD":
        return _difference(divide(q["tp_a"], q["tp_a"] + q["fn_a"]), divide(q["tp_d"], q["tp_d"] + q["fn_d"]))
    if name == "SD":
        sp_a = divide(q["tn_a"], q["tn_a"] + q["fp_a"])
        sp_d = divide(q["tn_d"], q["tn_d"] + q["fp_d"])
        return 0.0 if sp_a == sp_d and sp_a == INFINITY else sp_d - sp_a
    if name == "DAR":
        return _difference(divide(q["tp_a"], q["tp_a"] + q["fp_a"]), divide(q["tp_d"], q["tp_d"] + q["fp_d"]))
    if name == "DRR":
        rr_a = divide(q["tn_a"], q["tn_a"] + q["fn_a"])
        rr_d = divide(q["tn_d"], q["tn_d"] + q["fn_d"])
        return 0.0 if rr_a == rr_d and rr_a == INFINITY else rr_d - rr_a
    if name == "AD":
        total_a = q["tp_a"] + q["tn_a"] + q["fp_a"] + q["fn_a"]
        total_d = q["tp_d"] + q["tn_d"] + q["fp_d"] + q["fn_d"]
        return _difference(divide(q["tp_a"] + q["tn_a"], total_a), divide(q["tp_d"] + q["tn_d"], total_d))
    if name == "TE":
        tau_a = divide(q["fn_a"], q["fp_a"])
        tau_d = divide(q["fn_d"], q["fp_d"])
        return 0.0 if tau_a == tau_d and tau_a == INFINITY else tau_d - tau_a
    raise KeyError(name)


def _ge(y: np.ndarray, p: np.ndarray) -> float:
    n = len(y)
    if n == 0:
        raise BiasMetricError("dataset must be non-empty")
    benefit = p.astype("int64") - y.astype("int64") + 1
    mean = benefit.mean()
    if mean == 0:
        raise BiasMetricError("all predicted labels are false negatives")
    return float(((benefit / mean) ** 2 - 1).sum() / (n * 2 * 1))


def _ft(d: np.ndarray, p: np.ndarray, features: np.ndarray | None) -> float:
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    _na, nd = _facet_sizes(d)
    if features is None or features.shape[1] == 0:
        raise BiasMetricError("FlipTest needs numeric features besides the facet")
    if np.isnan(features).any():
        raise BiasMetricError("FlipTest does not support missing feature values")
    train = ~d
    neighbours = FT_NEIGHBOURS if _count(train) > FT_SAMPLES_THRESHOLD else FT_MIN_NEIGHBOURS
    knn = KNeighborsClassifier(n_neighbors=neighbours, weights="uniform", algorithm="auto", leaf_size=30, p=2)
    knn.fit(features[train], p[train])
    if_a = knn.predict(features[d]).astype(bool)
    model = p[d]
    return divide(_count(model & ~if_a) - _count(~model & if_a), nd)


def compute(name: str, rows: Rows) -> float:
    """One metric on the rows (label-dependent ones need `rows.label`); BiasMetricError when it has no value."""
    d, p, y = rows.facet, rows.predicted, rows.label
    if stage(name) == POST_TRAINING and _count(p) == 0:
        # smclarify refuses the whole post-training report when no row is predicted positive.
        raise BiasMetricError("no positive predicted label")
    if name == "CI":
        return _ci(d)
    if name == "DPPL":
        return _dpl(d, p)
    if name == "DI":
        return _di(d, p)
    if name == FLIP_TEST:
        return _ft(d, p, rows.features)
    if name == "CDDPL":
        return _cdd(d, p, rows.group)
    if y is None:
        raise BiasMetricError(f"{name} needs labels")
    if name == "DPL":
        return _dpl(d, y)
    if name == "KL":
        return _kl(d, y)
    if name == "JS":
        return _js(d, y)
    if name == "LP":
        return _lp(d, y, 2)
    if name == "TVD":
        return 0.5 * _lp(d, y, 1)
    if name == "KS":
        return _lp(d, y, math.inf)
    if name == "CDDL":
        return _cdd(d, y, rows.group)
    if name == "GE":
        return _ge(y, p)
    return _label_metric(name, d, y, p)


def compute_all(names: list[str], rows: Rows) -> dict[str, MetricValue]:
    """Each metric's value or its error, as Clarify reports them."""
    found: dict[str, MetricValue] = {}
    for name in names:
        try:
            found[name] = MetricValue(float(compute(name, rows)))
        except BiasMetricError as exc:
            found[name] = MetricValue(None, str(exc))
    return found


def json_value(value: float | None) -> Any:
    """A metric value as Clarify's analysis.json writes it (infinities as "Infinity" / "-Infinity")."""
    if value is not None and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def from_json_value(value: Any) -> float | None:
    """A value of an analysis.json back as a float (None for errors and nulls)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            return float(value.replace("Infinity", "inf"))
        except ValueError:
            return None
    return float(value) if isinstance(value, (int, float)) else None
