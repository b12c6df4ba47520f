"""`modelwatch baseline`: Model Monitor's statistics.json and constraints.json suggested from a model's reference."""

from __future__ import annotations

from pathlib import Path

import click

from modelwatch.config.model import load_model_config
from modelwatch.errors import ConfigError
from modelwatch.monitors.mm_baseline import CONSTRAINTS_FILE, STATISTICS_FILE, dumps
from modelwatch.workflow.lifecycle import read_reference, suggest_data_quality_baseline


@click.command()
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Model config YAML (reference data path relative to it).",
)
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Reference data (.parquet or .csv); overrides the config's `reference`.",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for statistics.json and constraints.json.",
)
def baseline(model_path: Path, reference: Path | None, output: Path) -> None:
    """Suggest a data-quality baseline in SageMaker Model Monitor's format from the reference data: inferred
    types, completeness, is_non_negative, string domains, KLL sketches (10 buckets) and Model Monitor's default
    monitoring_config. Name the files in the config's `data_quality` to use them (or edit them first).

    \b
    Example:
      modelwatch baseline --model model.yaml --output baseline/
    """
    config = load_model_config(model_path)
    location = str(reference) if reference is not None else config.reference
    if not location:
        raise ConfigError(f"{model_path}: reference: no reference data (set `reference` or pass --reference)")
    suggested = suggest_data_quality_baseline(config, read_reference(location))
    output.mkdir(parents=True, exist_ok=True)
    (output / STATISTICS_FILE).write_bytes(dumps(suggested.statistics))
    (output / CONSTRAINTS_FILE).write_bytes(dumps(suggested.constraints))
    rows = int(suggested.statistics["dataset"]["item_count"])
    click.echo(
        f"model {config.name}: baseline of {len(suggested.features)} features from {rows} reference rows -> "
        f"{output / STATISTICS_FILE}, {output / CONSTRAINTS_FILE}"
    )
