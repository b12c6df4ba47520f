"""What people open first (#20): the run's verdict, from the model's incidents as this run left them (never
recomputed), written as the report's headline, and the index pages next to the reports: one per model (its runs,
latest first) and one for the fleet (each model's latest run, degraded first).

Each model's runs are kept in `reports/model=<m>/runs.json` (latest first, at most MAX_RUNS): one read and one
write per run, whatever the history's length. The fleet's index is drawn from `reports/fleet.json` (each model's
latest run), which every run updates with S3's conditional writes (read, change its own model's entry, write only if
nobody wrote in between, else again): two reads and two writes per run whatever the fleet's size (it read every
model's runs.json before, 2,000 requests a run at 1,000 models). Everything read back is checked and escaped: the
lake is writable by others.
"""

from __future__ import annotations

import html
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from modelwatch.clock import parse_iso, to_utc
from modelwatch.constants import LAKE_REPORTS
from modelwatch.errors import LakeError
from modelwatch.lake.layout import fleet_index_key, fleet_latest_key, model_index_key, report_key
from modelwatch.lake.reports import STYLE, with_headline
from modelwatch.lake.store import ObjectStore
from modelwatch.monitors.wording import band_words, when
from modelwatch.observability import logger
from modelwatch.publishing.incidents import DEGRADATION, IMPROVEMENT, OPEN
from modelwatch.publishing.metrics import iso

MAX_RUNS = 500  # runs listed on a model's index (the reports themselves stay in the lake)
FLEET_WRITE_ATTEMPTS = 20  # conditional writes of fleet.json before giving up (each loses only to another run's)
FLEET_RETRY_SECONDS = 0.05  # the longest random wait before another attempt (times the attempt)
RUNS_FILE = "runs.json"
DEGRADED = "DEGRADED"
IMPROVED = "IMPROVED"
OK = "OK"
NO_DATA = "NO DATA"
_ORDER = {DEGRADED: 0, IMPROVED: 1, NO_DATA: 2, OK: 3}
_CSS = {DEGRADED: "verdict-degraded", IMPROVED: "verdict-improved", OK: "verdict-ok", NO_DATA: ""}


@dataclass(frozen=True)
class MetricVerdict:
    """One metric in alert: its label, the side of its band it lies on and the kind of incident it is part of."""

    label: str
    side: str | None  # lower, upper, None (either side counts)
    kind: str  # degradation or improvement
    since: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A run's verdict for its model: status, since when, which metrics and which way; `text` is the headline."""

    model: str
    run_id: str
    status: str
    text: str
    since: str | None = None
    metrics: list[MetricVerdict] = field(default_factory=list)
    chunks_analysed: int = 0
    generated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metric(self, label: str) -> MetricVerdict | None:
        return next((m for m in self.metrics if m.label == label), None)


def _in_alert(document: dict[str, Any] | None, kind: str) -> list[MetricVerdict]:
    if not document or document.get("status") != OPEN:
        return []
    found = []
    for label, entry in document.get("metrics", {}).items():
        if isinstance(entry, dict) and entry.get("in_alert"):
            side = entry.get("side") if entry.get("side") in ("lower", "upper") else None
            found.append(MetricVerdict(str(label), side, kind, entry.get("since")))
    return found


def _which(metrics: list[MetricVerdict]) -> str:
    """`accuracy, f1 below their bands; mae above its band`: metrics grouped by the side they lie on."""
    parts = []
    for side in ("lower", "upper", None):
        labels = [m.label for m in metrics if m.side == side]
        if labels:
            parts.append(f"{', '.join(labels)} {band_words(side, len(labels))}")
    return "; ".join(parts)


def verdict_from_incidents(
    model: str, run_id: str, documents: dict[str, dict[str, Any]], chunks_analysed: int, now: datetime
) -> Verdict:
    """The run's verdict from the model's incidents after it (`AlertingOutcome.documents`): DEGRADED while a
    degradation incident is open, IMPROVED while only an improvement one is, OK when none is, NO DATA when the run
    analysed no chunk."""
    now = to_utc(now)
    degraded = _in_alert(documents.get(DEGRADATION), DEGRADATION)
    improved = _in_alert(documents.get(IMPROVEMENT), IMPROVEMENT)
    generated = iso(now)

    def verdict(
        status: str, text: str, since: str | None = None, metrics: list[MetricVerdict] | None = None
    ) -> Verdict:
        return Verdict(model, run_id, status, text, since, metrics or [], chunks_analysed, generated)

    if degraded:
        since = str(documents[DEGRADATION]["since"])
        text = f"{DEGRADED} since {when(parse_iso(since), now)} UTC: {_which(degraded)}"
        if improved:
            text += f" (also better than usual: {_which(improved)})"
        return verdict(DEGRADED, text, since, degraded + improved)
    if improved:
        since = str(documents[IMPROVEMENT]["since"])
        text = (
            f"{IMPROVED} since {when(parse_iso(since), now)} UTC: {_which(improved)} "
            "(better than usual: often a change in the data, worth a look)"
        )
        return verdict(IMPROVED, text, since, improved)
    if not chunks_analysed:
        return verdict(NO_DATA, f"{NO_DATA}: this run had no complete chunk to analyse")
    return verdict(OK, f"{OK}: every metric within its band")


def headline_html(verdict: Verdict) -> str:
    """The report's headline: the verdict in a coloured box."""
    css = _CSS.get(verdict.status, "")
    return f"<p class='headline {css}' id='verdict'>{html.escape(verdict.text)}</p>"


def _entry(verdict: Verdict) -> dict[str, Any]:
    """A run as its model's index lists it (`runs.json`)."""
    return {
        "run_id": verdict.run_id,
        "status": verdict.status,
        "text": verdict.text,
        "since": verdict.since,
        "generated_at": verdict.generated_at,
        "chunks_analysed": verdict.chunks_analysed,
        "metrics": [asdict(m) for m in verdict.metrics],
    }


def runs_key(model: str) -> str:
    return f"{LAKE_REPORTS}/model={model}/{RUNS_FILE}"


def read_runs(store: ObjectStore, model: str) -> list[dict[str, Any]]:
    """The model's listed runs, latest first; entries that are not well-formed are left out (and logged)."""
    key = runs_key(model)
    try:
        found = store.get_tagged(key)
        if found is None:
            return []
        loaded = json.loads(found[0])
    except (LakeError, ValueError) as exc:
        logger.warning("runs index unreadable; starting it again", model=model, error=type(exc).__name__)
        return []
    entries = loaded if isinstance(loaded, list) else []
    good = [e for e in entries if _well_formed(e)]
    if len(good) != len(entries):
        logger.warning("runs index entries left out", model=model, left_out=len(entries) - len(good))
    return good


def _well_formed(entry: Any) -> bool:
    """A listed run as the pages write it (runs.json's entries, fleet.json's values): its id and a known status."""
    return isinstance(entry, dict) and isinstance(entry.get("run_id"), str) and entry.get("status") in _ORDER


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _when_cell(value: Any) -> str:
    try:
        return html.escape(when(parse_iso(str(value))))
    except (TypeError, ValueError):
        return ""


def model_index_html(model: str, runs: list[dict[str, Any]]) -> str:
    """A model's index: its runs latest first, each with its verdict and a link to its report."""
    rows = []
    for entry in runs:
        run_id = str(entry["run_id"])
        link = f"run={html.escape(run_id, quote=True)}/report.html"
        css = _CSS.get(str(entry["status"]), "")
        rows.append(
            f"<tr><td>{_when_cell(entry.get('generated_at'))}</td><td class='{css}'>{html.escape(str(entry['text']))}"
            f"</td><td class='num'>{int(entry.get('chunks_analysed') or 0)}</td>"
            f"<td><a href='{link}'>{html.escape(run_id)}</a></td></tr>"
        )
    table = (
        "<table><thead><tr><th>published (UTC)</th><th>verdict</th><th>chunks analysed</th><th>report</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>no run published yet</p>"
    )
    return _page(f"modelwatch: {model}: runs, latest first", f"<p><a href='../index.html'>fleet</a></p>{table}")


def fleet_index_html(latest: dict[str, dict[str, Any]]) -> str:
    """The fleet's index: each model's latest run (degraded first, then by name), linking its index and report."""
    ordered = sorted(latest.items(), key=lambda item: (_ORDER.get(str(item[1].get("status")), 9), item[0]))
    rows = []
    for model, entry in ordered:
        folder = f"model={html.escape(model, quote=True)}"
        run_id = str(entry.get("run_id", ""))
        css = _CSS.get(str(entry.get("status")), "")
        rows.append(
            f"<tr><td><a href='{folder}/index.html'>{html.escape(model)}</a></td>"
            f"<td class='{css}'>{html.escape(str(entry.get('text', '')))}</td>"
            f"<td>{_when_cell(entry.get('generated_at'))}</td>"
            f"<td><a href='{folder}/run={html.escape(run_id, quote=True)}/report.html'>latest report</a></td></tr>"
        )
    table = (
        "<table><thead><tr><th>model</th><th>verdict of its latest run</th><th>published (UTC)</th><th>report</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>no run published yet</p>"
    )
    return _page("modelwatch: the fleet", table)


def write_pages(store: ObjectStore, verdict: Verdict, registered: Callable[[], list[str]]) -> None:
    """Fill the run's report headline, add the run to its model's index, and set it as its model's latest run on the
    fleet's index (`registered`: the registered models, read only when the fleet has no fleet.json yet, to start it
    from their runs.json)."""
    key = report_key(verdict.model, verdict.run_id)
    found = store.get_tagged(key)
    if found is not None:
        page = found[0].decode("utf-8")
        store.put(key, with_headline(page, headline_html(verdict)).encode(), "text/html; charset=utf-8")
    runs = [e for e in read_runs(store, verdict.model) if e["run_id"] != verdict.run_id]
    runs = [_entry(verdict), *runs][:MAX_RUNS]
    store.put(runs_key(verdict.model), json.dumps(runs, indent=1).encode(), "application/json")
    store.put(
        model_index_key(verdict.model), model_index_html(verdict.model, runs).encode(), "text/html; charset=utf-8"
    )

    def latest_run(fleet: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {**fleet, verdict.model: runs[0]}

    update_fleet(store, latest_run, lambda: _latest_of(store, registered()))


def forget_in_fleet(store: ObjectStore, models: list[str]) -> None:
    """Take models off the fleet's index (unregistered: their reports stay in the lake)."""
    gone = set(models)
    update_fleet(store, lambda fleet: {m: e for m, e in fleet.items() if m not in gone}, dict)


def update_fleet(
    store: ObjectStore,
    change: Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]],
    start: Callable[[], dict[str, dict[str, Any]]],
) -> None:
    """Apply `change` to fleet.json (each model's latest run; `start()` when there is none yet) with conditional
    writes, then draw the fleet's index from what was written. A run whose write lost to another's reads again and
    retries; the index is drawn again when fleet.json changed while it was written, so the last index drawn is from
    the last fleet.json. LakeError when the writes keep losing."""
    key = fleet_latest_key()
    for attempt in range(1, FLEET_WRITE_ATTEMPTS + 1):
        found = store.get_tagged(key)
        fleet = _fleet_entries(found[0]) if found is not None else start()
        fleet = change(fleet)
        read_tag = found[1] if found is not None else None
        tag = store.put_if(key, json.dumps(fleet, indent=1).encode(), "application/json", read_tag)
        if tag is not None:
            break
        time.sleep(random.uniform(0, FLEET_RETRY_SECONDS * attempt))  # noqa: S311 - jitter, not a secret
    else:
        raise LakeError(f"{key}: still changed by other runs after {FLEET_WRITE_ATTEMPTS} attempts")
    for _ in range(FLEET_WRITE_ATTEMPTS):
        store.put(fleet_index_key(), fleet_index_html(fleet).encode(), "text/html; charset=utf-8")
        found = store.get_tagged(key)
        if found is None or found[1] == tag:
            return
        fleet, tag = _fleet_entries(found[0]), found[1]  # another run wrote since: its index may predate it


def _fleet_entries(body: bytes) -> dict[str, dict[str, Any]]:
    """fleet.json's well-formed entries (others left out, and logged); an unreadable file is started again empty."""
    try:
        loaded = json.loads(body)
    except ValueError:
        logger.warning("fleet index unreadable; starting it again")
        return {}
    entries = loaded if isinstance(loaded, dict) else {}
    good = {str(m): e for m, e in entries.items() if _well_formed(e)}
    if len(good) != len(entries):
        logger.warning("fleet index entries left out", left_out=len(entries) - len(good))
    return good


def _latest_of(store: ObjectStore, models: list[str]) -> dict[str, dict[str, Any]]:
    """Each model's latest listed run from its runs.json (how fleet.json starts: once per lake)."""
    latest = {}
    for model in sorted(set(models)):
        listed = read_runs(store, model)
        if listed:
            latest[model] = listed[0]
    return latest
