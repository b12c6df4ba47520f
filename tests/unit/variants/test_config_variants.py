"""Production variants in the model config: each listed variant is a unit `<model>.<variant>` (modelwatch.units)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwatch.config import load_model_config, load_model_config_text
from modelwatch.errors import ConfigError
from modelwatch.units import model_dimensions, split_unit, unit_name

from .configs import BASE


def test_units_of_listed_variants_carry_their_own_reference(tmp_path: Path) -> None:
    # Given a config listing a champion (the model's reference) and a challenger with its own reference
    path = tmp_path / "model.yaml"
    path.write_text(BASE + "variants:\n  - champion\n  - {name: challenger, reference: ref-b.parquet}\n")
    config = load_model_config(path)
    # When its units are made
    champion, challenger = config.units()
    # Then each is named <model>.<variant>, reads its variant, and the challenger reads its own reference
    assert (champion.name, champion.variant, champion.unit_of) == ("car-loan.champion", "champion", "car-loan")
    assert champion.reference == str(tmp_path / "ref.parquet")
    assert challenger.reference == str(tmp_path / "ref-b.parquet")
    assert config.champion == "champion" and config.watches_variants
    # And a unit survives its own YAML (the run's spec carries it)
    again = load_model_config_text(challenger.to_yaml(), "unit")
    assert again == challenger and again.model_name == "car-loan"


def test_a_single_variant_model_is_its_own_unit() -> None:
    config = load_model_config_text(BASE, "model.yaml")
    assert config.units() == [config]
    assert not config.watches_variants and config.reads_variant("AllTraffic") and not config.reads_variant("B")


def test_every_variant_found() -> None:
    config = load_model_config_text(BASE + 'variants: "*"\n', "model.yaml")
    assert config.reads_variant("any-new-one") and config.champion is None
    assert [u.name for u in config.units(["b", "a", "b"])] == ["car-loan.a", "car-loan.b"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("variants: []\n", "variants: name at least one variant"),
        ("variants: [a, a]\n", r"variants: \['a'\] listed twice"),
        ("variants: [a_b]\n", "not a SageMaker variant name"),
        ("variant: Blue\nvariants: [a]\n", "variant and variants: use one"),
        ("variants: [a]\ncomparison: {champion: z}\n", "comparison.champion: 'z' is not one of variants"),
        ("variants: [a]\nunit_of: x\n", "unit_of"),
    ],
)
def test_bad_variants_are_named(patch: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_model_config_text(BASE + patch, "model.yaml")


def test_a_model_name_cannot_look_like_a_unit() -> None:
    with pytest.raises(ConfigError, match="name must be"):
        load_model_config_text(BASE.replace("name: car-loan", "name: car.loan"), "model.yaml")


def test_unit_of_a_variant_it_does_not_watch_is_refused() -> None:
    config = load_model_config_text(BASE + "variants: [a]\n", "model.yaml")
    with pytest.raises(ConfigError, match="does not watch variant 'b'"):
        config.unit("b")


def test_unit_names_and_dimensions() -> None:
    assert unit_name("m", "v") == "m.v" and split_unit("m.v") == ("m", "v") and split_unit("m") == ("m", None)
    assert model_dimensions("m") == (("Model", "m"),)
    assert model_dimensions("m.v") == (("Model", "m"), ("Variant", "v"))
