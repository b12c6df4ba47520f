"""Finding the HTML reports the estimate step writes to `reports/model=<m>/run=<id>/report.html`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from modelwatch.constants import LAKE_REPORTS
from modelwatch.errors import LakeError
from modelwatch.lake.layout import model_prefix, report_key
from modelwatch.lake.store import LocalStore, ObjectStore, S3Store

REPORT_FILE = "report.html"
# The verdict is decided by publishing (the model's incidents); the report is written before, with this slot.
HEADLINE_START = "<!--modelwatch:headline-->"
HEADLINE_END = "<!--/modelwatch:headline-->"
PENDING_HEADLINE = "<p class='headline pending'>Verdict: not decided yet (it is written when the run is published).</p>"
STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}td.num{text-align:right}"
    ".headline{font-size:1.4em;font-weight:bold;padding:.5em .8em;border-radius:4px;background:#eee}"
    ".verdict-degraded{background:#fde2e2;color:#8a1010}.verdict-ok{background:#e2f5e6;color:#145a24}"
    ".verdict-improved{background:#e2ecfd;color:#10388a}#plotly-missing{color:#8a1010}"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ReportRun:
    """One run's report: its run id, lake key and when it was written."""

    model: str
    run_id: str
    key: str
    written: datetime | None


def _keys_with_times(store: ObjectStore, prefix: str) -> Iterator[tuple[str, datetime | None]]:
    if isinstance(store, S3Store):
        for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                modified = item.get("LastModified")
                yield item["Key"], modified.astimezone(UTC) if isinstance(modified, datetime) else None
    elif isinstance(store, LocalStore):
        for key in store.list(prefix):
            yield key, datetime.fromtimestamp((Path(store.root) / key).stat().st_mtime, tz=UTC)
    else:
        for key in store.list(prefix):
            yield key, None


def list_report_runs(store: ObjectStore, model: str) -> list[ReportRun]:
    """The model's reports, oldest first (by the time they were written, then run id)."""
    runs = []
    prefix = model_prefix(LAKE_REPORTS, model)
    for key, written in _keys_with_times(store, prefix):
        parts = key[len(prefix) :].split("/")
        if len(parts) == 2 and parts[0].startswith("run=") and parts[1] == REPORT_FILE:
            runs.append(ReportRun(model, parts[0].removeprefix("run="), key, written))
    return sorted(runs, key=lambda r: (r.written or _EPOCH, r.run_id))


def find_report(store: ObjectStore, model: str, run_id: str | None = None) -> ReportRun:
    """The given run's report, else the latest; LakeError when there is none."""
    if run_id is not None:
        key = report_key(model, run_id)
        if not store.exists(key):
            raise LakeError(f"model {model}: no report for run {run_id} ({store.uri(key)})")
        return ReportRun(model, run_id, key, None)
    runs = list_report_runs(store, model)
    if not runs:
        raise LakeError(f"model {model}: no reports yet under {store.uri(model_prefix(LAKE_REPORTS, model))}")
    return runs[-1]


def console_link(bucket: str, key: str, region: str | None) -> str:
    """The S3 console page of one object."""
    region_part = f"region={region}&" if region else ""
    return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?{region_part}prefix={quote(key, safe='')}"


def with_headline(page: str, headline_html: str) -> str:
    """The report with its headline slot filled (the slot is kept, so a later publish of the run replaces it)."""
    start, end = page.find(HEADLINE_START), page.find(HEADLINE_END)
    if start < 0 or end < start:
        return page.replace("</h1>", f"</h1>{HEADLINE_START}{headline_html}{HEADLINE_END}", 1)
    return page[: start + len(HEADLINE_START)] + headline_html + page[end:]


_SHARED_SCRIPT = re.compile(r"<script src='((?:\.\./)+)(plotly-[0-9A-Za-z.\-]+\.min\.js)'></script>")


def standalone_report(store: ObjectStore, key: str) -> bytes:
    """A report as one file that draws its plots anywhere (`modelwatch report` downloads it alone): the reports
    folder's shared plotly.js inlined in place of its relative reference (left as it is when the lake has none)."""
    page = store.get(key).decode("utf-8")
    found = _SHARED_SCRIPT.search(page)
    if found is None:
        return page.encode()
    shared = f"{LAKE_REPORTS}/{found.group(2)}"
    if not store.exists(shared):
        return page.encode()
    script = store.get(shared).decode("utf-8")
    return (page[: found.start()] + f"<script>{script}</script>" + page[found.end() :]).encode()
