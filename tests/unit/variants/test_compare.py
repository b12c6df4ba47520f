"""The variant comparison's sampling error, on synthetic data where the true difference is known.

Scores of a binary model whose classes are N(0, 1) and N(mu, 1) apart have ROC AUC Phi(mu / sqrt 2). The champion
serves mu = 1.0, the challenger mu = 0.8: the challenger's true AUC is lower by Phi(0.566) - Phi(0.707) = -0.046.
nannyml's realized performance on chunks of each variant's rows gives the values and their sampling errors.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from modelwatch.monitors.results import ResultRow
from modelwatch.monitors.variants import chunk_differences, verdict

CHUNK = 500
CHUNKS = 60
START = datetime(2026, 3, 1, tzinfo=UTC)


def _auc(mu: float) -> float:
    return NormalDist().cdf(mu / math.sqrt(2))


def _rows(rng: np.random.Generator, mu: float, chunks: int) -> pd.DataFrame:
    n = chunks * CHUNK
    target = rng.integers(0, 2, n)
    score = rng.normal(0.0, 1.0, n) + mu * target
    proba = 1 / (1 + np.exp(-score))
    return pd.DataFrame({"y_pred_proba": proba, "y_pred": (proba >= 0.5).astype(int), "target": target})


def _realized(seed: int, mu: float, chunks: int = CHUNKS) -> list[ResultRow]:
    """nannyml's realized roc_auc per chunk of CHUNK rows (value and sampling error) as results rows."""
    import nannyml as nml

    rng = np.random.default_rng(seed)
    calculator = nml.PerformanceCalculator(
        y_pred_proba="y_pred_proba",
        y_pred="y_pred",
        y_true="target",
        metrics=["roc_auc"],
        problem_type="classification_binary",
        chunk_size=CHUNK,
    ).fit(_rows(rng, mu, 20))
    frame = calculator.calculate(_rows(rng, mu, chunks)).filter(period="analysis").to_df()
    rows = []
    for index, (value, error) in enumerate(
        zip(frame[("roc_auc", "value")], frame[("roc_auc", "sampling_error")], strict=True)
    ):
        start = START + timedelta(hours=index)
        rows.append(
            ResultRow(
                "performance",
                "roc_auc",
                "realized",
                start,
                start + timedelta(hours=1),
                float(value),
                None,
                None,
                None,
                None,
                False,
                1.0,
                CHUNK,
                sampling_error=float(error),
            )
        )
    return rows


@pytest.fixture(scope="module")
def ab() -> tuple[list[ResultRow], list[ResultRow], float]:
    return _realized(1, 1.0), _realized(2, 0.8), _auc(0.8) - _auc(1.0)


def test_the_verdict_covers_the_true_difference(ab: tuple[list[ResultRow], list[ResultRow], float]) -> None:
    champion, challenger, truth = ab
    differences = chunk_differences(champion, challenger, "roc_auc", "realized")
    assert len(differences) == CHUNKS
    assert all(d.standard_error and d.standard_error > 0 for d in differences)
    # Disjoint windows of 4 chunks: the 95 % interval D +/- 1.96 se(D) holds the truth in about 95 % of them.
    windows = [differences[i : i + 4] for i in range(0, CHUNKS, 4)]
    covered = 0
    for window in windows:
        found = verdict(window, "roc_auc", "realized", "A", "B", 4, 1.96)
        assert found.difference is not None and found.standard_error is not None
        covered += abs(found.difference - truth) <= 1.96 * found.standard_error
    assert covered >= 12  # of 15; P(fewer than 12 | 95 % coverage) < 0.01
    # Over the last 24 chunks the challenger is significantly worse, within three standard errors of the truth.
    last = verdict(differences, "roc_auc", "realized", "champion", "challenger", 24, 1.96)
    assert last.chunks == 24 and last.significant and last.worse and last.challenger_better is False
    assert last.difference is not None and last.standard_error is not None
    assert abs(last.difference - truth) < 3 * last.standard_error
    assert last.text().startswith("challenger worse than champion on roc_auc (realized) by 0.0")
    assert "over the last 24 chunks" in last.text()


def test_the_standard_error_is_never_below_the_chunks_own_spread(
    ab: tuple[list[ResultRow], list[ResultRow], float],
) -> None:
    champion, challenger, _ = ab
    differences = chunk_differences(champion, challenger, "roc_auc", "realized")
    found = verdict(differences, "roc_auc", "realized", "A", "B", CHUNKS, 1.96)
    spread = float(np.std([d.difference for d in differences], ddof=1)) / math.sqrt(CHUNKS)
    implied = math.sqrt(sum(d.standard_error**2 for d in differences if d.standard_error)) / CHUNKS
    assert found.standard_error == pytest.approx(max(spread, implied))


def test_no_difference_is_not_significant_in_most_windows() -> None:
    champion, twin = _realized(3, 1.0, 40), _realized(4, 1.0, 40)
    differences = chunk_differences(champion, twin, "roc_auc", "realized")
    windows = [verdict(differences[i : i + 4], "roc_auc", "realized", "A", "B", 4, 1.96) for i in range(0, 40, 4)]
    assert sum(w.significant for w in windows) <= 2  # about 5 % false alarms: at most 2 of 10
    quiet = next(w for w in windows if not w.significant)
    assert quiet.text().startswith("no significant difference between B and A on roc_auc (realized)")


def _row(metric: str, hour: int, value: float, error: float | None) -> ResultRow:
    start = START + timedelta(hours=hour)
    return ResultRow(
        "performance",
        metric,
        "estimated",
        start,
        None,
        value,
        None,
        None,
        None,
        None,
        False,
        None,
        100,
        sampling_error=error,
    )


def test_lower_is_better_for_errors_and_missing_errors_are_not_significant() -> None:
    champion = [_row("mae", h, 10.0, 0.1) for h in range(3)]
    challenger = [_row("mae", h, 9.0, 0.1) for h in range(3)]
    found = verdict(chunk_differences(champion, challenger, "mae", "estimated"), "mae", "estimated", "A", "B", 24, 2)
    assert found.significant and found.challenger_better and found.difference == pytest.approx(-1.0)
    assert found.standard_error == pytest.approx(math.hypot(0.1, 0.1) * math.sqrt(3) / 3)
    blind = [_row("mae", h, 9.0, None) for h in range(3)]
    unknown = verdict(chunk_differences(champion, blind, "mae", "estimated"), "mae", "estimated", "A", "B", 24, 2)
    assert not unknown.significant and unknown.standard_error is None and "no sampling error" in unknown.text()
    nothing = verdict([], "mae", "estimated", "A", "B", 24, 2)
    assert nothing.difference is None and "no chunk in common" in nothing.text()
