"""Model versions in the model config: live spans in order, one pending at most (the last), clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelwatch.config import load_model_config, load_model_config_text
from modelwatch.errors import ConfigError

from .configs import BASE

V2 = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
V3 = datetime(2026, 12, 5, tzinfo=UTC)


def test_versions_are_live_one_after_another_with_their_own_reference(tmp_path: Path) -> None:
    # Given v1 (the model's reference), v2 live from a time with its own reference, v3 pending
    path = tmp_path / "model.yaml"
    path.write_text(
        BASE
        + "versions:\n  - {name: v1}\n"
        + "  - {name: v2, reference: ref-v2.parquet, from: '2026-12-01T10:30:00Z'}\n"
        + "  - {name: v3, reference: ref-v3.parquet}\n"
    )
    config = load_model_config(path)
    # Then the live spans meet at the switch, the pending one is not live yet, references resolve to the folder
    spans = config.version_spans()
    assert [(s.name, s.start, s.end) for s in spans] == [("v1", None, V2), ("v2", V2, None)]
    assert spans[0].reference == str(tmp_path / "ref.parquet")
    assert spans[1].reference == str(tmp_path / "ref-v2.parquet")
    assert config.pending_version is not None and config.pending_version.name == "v3"
    assert config.versioned and spans[0].holds(datetime(2026, 12, 1, 10, 29, tzinfo=UTC)) and spans[1].holds(V2)
    # And the config survives its own YAML (`from` written as `from`)
    again = load_model_config_text(config.to_yaml(), "stored")
    assert again == config and "from: '2026-12-01T10:30:00Z'" in config.to_yaml()


def test_one_live_version_is_not_versioned() -> None:
    config = load_model_config_text(BASE + "versions: [{name: v1}, {name: v2}]\n", "model.yaml")
    assert not config.versioned and config.pending_version is not None
    assert not load_model_config_text(BASE, "model.yaml").versioned


def test_a_later_version_without_reference_has_none() -> None:
    config = load_model_config_text(BASE + "versions: [{name: a}, {name: b, from: '2026-12-05T00:00:00Z'}]\n", "m")
    assert [(s.name, s.reference, s.start) for s in config.version_spans()] == [
        ("a", "ref.parquet", None),
        ("b", None, V3),
    ]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("versions: []\n", "versions: name at least one version"),
        ("versions: [{name: a}, {name: a, from: '2026-12-01T00:00:00Z'}]\n", r"versions: \['a'\] listed twice"),
        ("versions: [{name: 'a.b'}]\n", "not a version name"),
        ("versions: [{name: a, from: '2026-12-01T00:00:00Z'}]\n", "versions\\[0\\].from: the first version"),
        ("versions: [{name: a}, {name: b}, {name: c, from: '2026-12-01T00:00:00Z'}]\n", "only the last version may be"),
        (
            "versions: [{name: a}, {name: b, from: '2026-12-02T00:00:00Z'}, {name: c, from: '2026-12-01T00:00:00Z'}]\n",
            "each after the last",
        ),
        ("chunking: {size: 100}\nversions: [{name: a}]\n", "versions: chunk by period"),
    ],
)
def test_bad_versions_are_named(patch: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_model_config_text(BASE + patch, "model.yaml")
