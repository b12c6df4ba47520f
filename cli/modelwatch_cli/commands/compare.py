"""`modelwatch compare`: a model's production variants side by side, chunk by chunk, with a plain verdict."""

from __future__ import annotations

import json

import click

from modelwatch.errors import ConfigError
from modelwatch.monitors.variants import compare_variants, latest_results
from modelwatch.units import unit_name
from modelwatch_cli.context import StackContext, stack_options


@click.command()
@click.option("--model", "model", required=True, help="A model watching several variants (`variants:`).")
@click.option(
    "--variants",
    help="CHAMPION,CHALLENGER[,...]: the first is compared with each other one (default: the model's champion "
    "with every other variant).",
)
@click.option("--metric", "metrics", multiple=True, help="A metric to compare (repeatable; default the model's).")
@click.option("--last", "last_chunks", type=click.IntRange(min=1), help="Chunks of the verdict (default the model's).")
@click.option("--chunks", "show_chunks", is_flag=True, help="Also print every chunk's difference.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per metric, kind and challenger.")
@stack_options
def compare(
    model: str,
    variants: str | None,
    metrics: tuple[str, ...],
    last_chunks: int | None,
    show_chunks: bool,
    as_json: bool,
    context: StackContext,
) -> None:
    """Compare MODEL's variants on their latest runs: the estimated (and, where labels arrived, realized) difference
    per chunk with its standard error, and whether the challenger is significantly better or worse.

    \b
    Examples:
      modelwatch compare --model churn --stack modelwatch
      modelwatch compare --model churn --variants champion,challenger --local run-out/ --chunks
    """
    registry = context.registry()
    config = registry.get(model)
    units = {u.variant: u for u in registry.units_of(model)}
    if not config.watches_variants:
        raise ConfigError(f"model {model} watches one variant ({config.variant}): nothing to compare")
    names = [v.strip() for v in variants.split(",")] if variants else []
    if not names:
        champion = config.champion or (sorted(units)[0] if units else None)
        names = [champion, *sorted(v for v in units if v != champion)] if champion else []
    unknown = [n for n in names if n not in units]
    if unknown or len(names) < 2:
        raise ConfigError(f"--variants: name two or more of {sorted(units)} (unknown: {unknown})")
    store = context.lake()
    rows = {name: latest_results(store, unit_name(model, name)) for name in names}
    for challenger in names[1:]:
        for found in compare_variants(
            config, names[0], challenger, rows[names[0]], rows[challenger], list(metrics) or None, last_chunks
        ):
            verdict = found.verdict
            if as_json:
                document = {
                    "model": model,
                    "champion": verdict.champion,
                    "challenger": verdict.challenger,
                    "metric": verdict.metric,
                    "kind": verdict.kind,
                    "chunks": verdict.chunks,
                    "difference": verdict.difference,
                    "standard_error": verdict.standard_error,
                    "significant": verdict.significant,
                    "challenger_better": verdict.challenger_better,
                    "verdict": verdict.text(),
                }
                if show_chunks:
                    document["by_chunk"] = [
                        {
                            "chunk_start": d.chunk_start.isoformat(),
                            "champion": d.champion,
                            "challenger": d.challenger,
                            "difference": d.difference,
                            "standard_error": d.standard_error,
                        }
                        for d in found.differences
                    ]
                click.echo(json.dumps(document))
                continue
            click.echo(verdict.text())
            if show_chunks:
                for d in found.differences:
                    error = f"+/- {d.standard_error:.4f}" if d.standard_error is not None else ""
                    click.echo(
                        f"  {d.chunk_start:%Y-%m-%d %H:%M}  {verdict.champion} {d.champion:.4f}  "
                        f"{verdict.challenger} {d.challenger:.4f}  difference {d.difference:+.4f} {error}"
                    )
