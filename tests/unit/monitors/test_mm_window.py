"""Model Monitor's checks of every chunk of a window at once: the same results as each chunk checked on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelwatch.monitors.mm_baseline import suggest_baseline
from modelwatch.monitors.mm_checks import (
    ChunkIssues,
    evaluate_chunk,
    evaluate_window,
    numeric_distance,
    numeric_distances,
)

FEATURES = [("x", "numeric"), ("k", "numeric"), ("colour", "categorical")]


def _reference(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(0.0, 1.0, rows),
            "k": np.round(rng.normal(0.0, 1.0, rows) * 2) / 2,  # ties in the sketch
            "colour": rng.choice(["red", "green", "blue"], rows).astype(object),
        }
    )


@pytest.mark.parametrize("reference_rows", [40, 2_000, 30_000])  # exact sketch, and compacted (weights 2^level)
def test_every_chunks_distance_equals_numeric_distance_bit_for_bit(reference_rows: int) -> None:
    # Given a sketch and a window of chunks: shifted, with ties, with values equal to sketch items, one chunk empty
    rng = np.random.default_rng(reference_rows)
    for feature in ("x", "k"):
        rules = suggest_baseline(FEATURES, _reference(reference_rows, 1)).features[feature]
        values = rng.normal(0.3, 1.2, 5_000)
        values[::3] = np.round(values[::3] * 2) / 2
        values[::7] = rng.choice(np.asarray(rules.sketch_items), len(values[::7]))
        position = np.sort(rng.choice([0, 1, 2, 4, 5], len(values)))
        # When every chunk's distance is computed at once
        simple, counts = numeric_distances(rules, values, position, 6)
        # Then each equals the chunk's own, to the bit; the empty chunk has none
        for chunk in range(6):
            mine = values[position == chunk]
            assert counts[chunk] == len(mine)
            if not len(mine):
                assert np.isnan(simple[chunk])
                continue
            assert simple[chunk] == numeric_distance(rules, mine)[0]


def test_a_window_gives_each_chunks_own_results() -> None:
    # Given a window of four chunks in ingestion order (rows of the chunks interleaved), with missing values, text in
    # a numeric feature, a new category and a chunk whose x is never sent
    baseline = suggest_baseline(FEATURES, _reference(3_000, 2))
    rng = np.random.default_rng(5)
    window = _reference(2_000, 6).astype({"x": object})
    position = rng.integers(0, 4, len(window))
    window.loc[rng.random(len(window)) < 0.1, "x"] = None
    window.loc[window.index[:5], "x"] = "text"
    window.loc[rng.random(len(window)) < 0.05, "colour"] = "purple"
    window.loc[position == 3, "x"] = None
    rows = np.bincount(position, minlength=4).tolist()
    issues = [ChunkIssues() for _ in rows]
    columns = {c: window[c].to_numpy() for c in window.columns}
    # When the window is checked at once
    found = evaluate_window(baseline, columns, position, rows, issues)
    # Then each chunk has the results of evaluate_chunk on its own rows
    for chunk in range(4):
        own = {c: window.loc[position == chunk, c] for c in window.columns}
        assert found[chunk] == evaluate_chunk(baseline, own, rows[chunk], issues[chunk])
    assert any(r.check == "missing_column_check" for r in found[3])
    assert any(r.check == "categorical_values_check" and r.violation for r in found[0])
