"""The distributions the report draws: each chunk's shares in the reference's bins, all chunks at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelwatch.monitors.drift import chunk_shares, distribution_labels, distribution_shares, reference_distribution


@pytest.mark.parametrize("categorical", [False, True])
def test_all_chunks_at_once_equal_each_chunk_alone(categorical: bool) -> None:
    # Given values with missing ones (and an infinity), four chunks, and bins from the first half
    rng = np.random.default_rng(0)
    if categorical:
        values = pd.Series(rng.choice(list("abcdefghijklmn"), 1_000).astype(object))
        values[::13] = None
    else:
        values = pd.Series(rng.normal(size=1_000))
        values[::17] = np.nan
        values[5] = np.inf
    chunks = np.repeat([3, 4, 5, 6], 250)
    spec = reference_distribution(values[:500], categorical)
    # When every chunk's shares are computed together
    together = chunk_shares(spec, values, chunks)
    # Then they equal each chunk's own, in the labelled bins (the reference's own sum to 1)
    for number in (3, 4, 5, 6):
        assert together[number] == distribution_shares(spec, values[chunks == number])
        assert len(together[number]) == len(distribution_labels(spec))
    assert sum(spec["reference"]) == pytest.approx(1.0, abs=1e-4)
    # And with the chunks grouped once by the caller (as the monitor does for every feature) they are the same
    assert chunk_shares(spec, values, chunks, np.unique(chunks, return_inverse=True)) == together
