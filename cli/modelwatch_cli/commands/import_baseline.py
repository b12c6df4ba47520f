"""`modelwatch import-baseline`: what a SageMaker Model Monitor model-quality constraints.json becomes in modelwatch.

Exit codes: 0 every constraint maps, 3 some cannot be monitored (listed with the reason), 1 the file (or the model
config) is unreadable or invalid (2 stays click's usage error).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
import yaml

from modelwatch.config.model import load_model_config, with_model_monitor_constraints
from modelwatch.config.model_quality import (
    CONSTRAINTS_SECTIONS,
    GREATER_THAN,
    ParsedConstraint,
    load_json,
    parse_constraints_entries,
)
from modelwatch.errors import ConfigError
from modelwatch.monitors.mm_model_quality import parse_statistics

EXIT_OK = 0
EXIT_UNMAPPED = 3


def _problem_type(document: Any, given: str | None, source: str) -> str:
    """The problem type: given (option or model config), else the one `<problem>_constraints` section of the file."""
    if given:
        return given
    found = [p for p, section in CONSTRAINTS_SECTIONS.items() if isinstance(document, dict) and section in document]
    if len(found) != 1:
        sections = sorted(CONSTRAINTS_SECTIONS.values())
        raise ConfigError(f"{source}: cannot tell the problem type (one of {sections} expected); pass --problem-type")
    return found[0]


def _entry(entry: ParsedConstraint, baseline: dict[str, tuple[float, float]]) -> dict[str, Any]:
    threshold = entry.threshold
    row: dict[str, Any] = {
        "metric": entry.metric,
        "comparison_operator": entry.comparison_operator,
        "threshold": threshold,
        "mapping": entry.mapping.kind if not entry.problem else "unmapped",
        "nannyml_metric": entry.mapping.nannyml_metric,
        "detail": entry.problem or entry.mapping.describe(),
    }
    if entry.mapping.kind == "nannyml" and not entry.problem:
        side = "upper" if entry.comparison_operator == GREATER_THAN else "lower"
        row["detail"] += f" (constant {side} threshold)"
    if entry.metric in baseline:
        value, std = baseline[entry.metric]
        row["baseline_value"] = None if math.isnan(value) else value
        row["baseline_standard_deviation"] = None if math.isnan(std) else std
    return row


@click.command("import-baseline")
@click.argument("constraints", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Model config YAML: its problem type, and the whole config checked with these constraints.",
)
@click.option(
    "--problem-type",
    type=click.Choice(sorted(CONSTRAINTS_SECTIONS)),
    help="Without --model: the section to read (default: the file's only `*_constraints` section).",
)
@click.option(
    "--statistics",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The baseline's statistics.json: each metric's baseline value and standard deviation beside it.",
)
@click.option(
    "--write-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --model: write the model config with estimation.constraints naming CONSTRAINTS (all must map).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the mapping as JSON.")
@click.pass_context
def import_baseline(
    ctx: click.Context,
    constraints: Path,
    model_path: Path | None,
    problem_type: str | None,
    statistics: Path | None,
    write_config: Path | None,
    as_json: bool,
) -> None:
    """Report what a Model Monitor model-quality CONSTRAINTS file (constraints.json) becomes in modelwatch: each
    metric estimated and realized with a constant threshold (nannyml's metric), realized only (nannyml cannot
    estimate it), or not mapped and why. Name the file in a model config as `estimation.constraints`.

    \b
    Example:
      modelwatch import-baseline constraints.json --model model.yaml
    """
    source = str(constraints)
    document = load_json(constraints.read_bytes(), source)
    config = load_model_config(model_path) if model_path is not None else None
    if config is not None and problem_type and problem_type != config.problem_type.value:
        raise ConfigError(f"--problem-type {problem_type} differs from the model's {config.problem_type.value}")
    problem = _problem_type(document, config.problem_type.value if config else problem_type, source)
    entries = parse_constraints_entries(document, problem, source)
    baseline = parse_statistics(statistics.read_bytes(), str(statistics), problem) if statistics else {}
    rows = [_entry(entry, baseline) for entry in entries]
    unmapped = [r for r in rows if r["mapping"] == "unmapped"]
    checked = None
    if config is not None and not unmapped:
        checked = with_model_monitor_constraints(config, constraints.read_bytes(), str(constraints.resolve()))
    if write_config is not None:
        if checked is None:
            raise ConfigError(f"{source}: --write-config needs --model and every constraint mapped")
        data = checked.model_dump(mode="json", exclude_defaults=True)
        quality = data["estimation"].get("model_monitor", {})
        quality.pop("constraints", None)  # read from the file again when the config is loaded
        if not quality:
            data["estimation"].pop("model_monitor", None)
        write_config.write_text(yaml.safe_dump(data, sort_keys=False))
    if as_json:
        click.echo(json.dumps({"source": source, "problem_type": problem, "constraints": rows}, indent=2))
    else:
        section = CONSTRAINTS_SECTIONS[problem]
        click.echo(f"{source} ({section}): {len(rows)} constraint(s), {len(rows) - len(unmapped)} mapped")
        for r in rows:
            threshold = "" if r["threshold"] is None else f"{r['threshold']:.6g}"
            line = f"  {r['metric']:<24} {r['comparison_operator'] or '?':<21} {threshold:>10}  {r['detail']}"
            if "baseline_value" in r:
                value, std = r["baseline_value"], r["baseline_standard_deviation"]
                line += f"; baseline {value if value is not None else 'NaN'} +/- {std if std is not None else 'NaN'}"
            click.echo(line)
        if unmapped:
            click.echo(f"{len(unmapped)} constraint(s) cannot be monitored: remove them from the file to use it.")
        elif write_config is not None:
            click.echo(f"model config with estimation.constraints -> {write_config}")
        else:
            click.echo(f"Use it: estimation: {{constraints: {constraints}}} in the model config.")
    ctx.exit(EXIT_UNMAPPED if unmapped else EXIT_OK)
