"""Incidents from a sequence of runs (no AWS): direction, one message per opening/closing, updates only when something
is learnt, reminders, noise control, and the subjects people read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from modelwatch.config.model import ChunksInAlert, ModelConfig
from modelwatch.monitors.results import ResultRow
from modelwatch.publishing.alerting import views_by_kind
from modelwatch.publishing.datapoints import candidates
from modelwatch.publishing.incidents import (
    CLOSED_EVENT,
    DEGRADATION,
    IMPROVEMENT,
    KINDS,
    OPENED,
    REMINDER,
    UPDATED,
    decide,
    paging_metrics,
)
from modelwatch.publishing.notify import RunContext, build_incident_notification
from tests.unit.workflow.helpers import model_config

START = datetime(2026, 1, 5, tzinfo=UTC)
THRESHOLDS = {"f1": (0.933, 0.99), "accuracy": (0.92, 0.99), "mae": (800.0, 890.0)}


def _row(
    metric: str, hour: int, value: float, *, kind: str = "estimated", band: float = 0.005, coverage: float = 0.0
) -> ResultRow:
    lower, upper = THRESHOLDS[metric]
    start = START + timedelta(hours=hour)
    return ResultRow(
        monitor="performance",
        metric=metric,
        kind=kind,
        chunk_start=start,
        chunk_end=start + timedelta(hours=1),
        value=value,
        lower_bound=value - band if kind == "estimated" else None,
        upper_bound=value + band if kind == "estimated" else None,
        lower_threshold=lower,
        upper_threshold=upper,
        alert=not lower <= value <= upper,
        label_coverage=coverage,
        rows=3000,
    )


def _config(problem_type: str = "binary_classification", **alerts: Any) -> ModelConfig:
    config = model_config("car-loan", problem_type)
    metrics = ["mae"] if problem_type == "regression" else ["f1", "accuracy"]
    return config.model_copy(
        update={
            "estimation": config.estimation.model_copy(update={"metrics": metrics}),
            "alerts": config.alerts.model_copy(update=alerts),
        }
    )


@dataclass
class Runs:
    """Runs of one model in time order, as publishing sees them: each run's rows are the whole window so far."""

    config: ModelConfig
    rows: list[ResultRow] = field(default_factory=list)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    subjects: list[str] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def run(self, new_rows: list[ResultRow], at: datetime) -> None:
        self.rows = [r for r in self.rows if (r.chunk_start, r.metric, r.kind) not in _keys(new_rows)] + new_rows
        views = views_by_kind(self.config, self.rows, candidates(self.config, self.rows, {}))
        context = RunContext(run_id=f"run-{at:%d%H%M}", published_at=at, report_url="https://report")
        for kind in KINDS:
            decision = decide(self.config, kind, self.documents.get(kind), views[kind], at, context.run_id)
            if decision.document is not None:
                self.documents[kind] = decision.document
            for event in decision.events:
                note = build_incident_notification(self.config, event, views[kind], context)
                self.subjects.append(note.subject)
                self.texts.append(note.text)
                self.events.append((kind, event.type))


def _keys(rows: list[ResultRow]) -> set[tuple[datetime, str, str]]:
    return {(r.chunk_start, r.metric, r.kind) for r in rows}


def _hour(hour: int, minute: int = 50) -> datetime:
    return START + timedelta(hours=hour, minutes=minute)


def test_one_degraded_and_one_recovered_message_for_an_episode_with_subjects_for_people() -> None:
    # Given f1 healthy for three chunks, past its lower threshold for three (03:00-06:00), then healthy again
    runs = Runs(_config())
    values = [0.95, 0.951, 0.949, 0.913, 0.912, 0.915, 0.95, 0.951]

    # When each chunk is analysed by the run after it completes
    for hour, value in enumerate(values):
        runs.run([_row("f1", hour, value), _row("accuracy", hour, 0.95)], _hour(hour + 1))

    # Then the incident opened once, on the first run that saw 03:00, and closed once, on the run that saw 06:00
    assert runs.events == [(DEGRADATION, OPENED), (DEGRADATION, CLOSED_EVENT)]
    assert runs.subjects == [
        "modelwatch: car-loan degraded: f1 0.913 (est.) < 0.933 since 03:00",
        "modelwatch: car-loan recovered: f1 back in range after 3 h",
    ]
    assert "In alert: 1 metric(s); 1 chunk(s) crossed a threshold since it began." in runs.texts[0]
    assert "Report: https://report" in runs.texts[0]
    assert runs.documents[DEGRADATION]["status"] == "closed" and not paging_metrics(runs.documents)


def test_counts_chunks_and_metrics_apart() -> None:
    # Given one chunk in which two metrics cross
    runs = Runs(_config())
    runs.run([_row("f1", 0, 0.91), _row("accuracy", 0, 0.90)], _hour(1))

    # Then the message counts 2 metrics in 1 chunk, and the subject names the first and how many more
    assert "In alert: 2 metric(s); 1 chunk(s) crossed a threshold since it began." in runs.texts[0]
    assert runs.subjects[0] == "modelwatch: car-loan degraded: f1 0.910 (est.) < 0.933 (+1 more) since 00:00"


def test_updates_only_when_something_is_learnt_and_reminders_at_most_every_remind_every() -> None:
    # Given an open incident on f1
    runs = Runs(_config(remind_every="24h"))
    runs.run([_row("f1", 0, 0.92), _row("accuracy", 0, 0.95)], _hour(1))

    # When the next runs see the same situation, then nothing is sent
    runs.run([_row("f1", 1, 0.921), _row("accuracy", 1, 0.95)], _hour(2))
    assert runs.events == [(DEGRADATION, OPENED)]

    # When accuracy joins, labels confirm f1, and f1 lands twice as far past its threshold: one update each time
    runs.run([_row("f1", 2, 0.921), _row("accuracy", 2, 0.90)], _hour(3))
    runs.run([_row("f1", 0, 0.925, kind="realized", coverage=1.0)], _hour(3, 55))
    runs.run([_row("f1", 3, 0.90), _row("accuracy", 3, 0.90)], _hour(4))
    assert runs.events[1:] == [(DEGRADATION, UPDATED)] * 3
    assert runs.subjects[1] == "modelwatch: car-loan update: accuracy joined: accuracy 0.900 (est.) < 0.920"
    assert runs.subjects[2].startswith("modelwatch: car-loan update: labels confirm f1")
    assert runs.subjects[3] == (
        "modelwatch: car-loan update: f1 is further past its threshold: f1 0.900 (est.) < 0.933"
    )

    # When nothing new happens for a day of hourly runs, then exactly one reminder, 24 h after the last message
    for hour in range(4, 30):
        runs.run([_row("f1", hour, 0.90), _row("accuracy", hour, 0.90)], _hour(hour + 1))
    assert runs.events[4:] == [(DEGRADATION, REMINDER)]
    assert runs.subjects[4] == "modelwatch: car-loan reminder: f1 0.900 (est.) < 0.933, incident open 29 h"


def test_labels_that_contradict_the_estimate_are_an_update() -> None:
    runs = Runs(_config())
    runs.run([_row("f1", 0, 0.92), _row("accuracy", 0, 0.95)], _hour(1))
    runs.run([_row("f1", 0, 0.95, kind="realized", coverage=1.0)], _hour(2))
    assert runs.events == [(DEGRADATION, OPENED), (DEGRADATION, UPDATED)]
    assert runs.subjects[1].startswith("modelwatch: car-loan update: labels contradict f1")


def test_labels_below_the_coverage_gate_teach_nothing() -> None:
    runs = Runs(_config())
    runs.run([_row("f1", 0, 0.92), _row("accuracy", 0, 0.95)], _hour(1))
    runs.run([_row("f1", 0, 0.95, kind="realized", coverage=0.2)], _hour(2))
    assert runs.events == [(DEGRADATION, OPENED)]


def test_a_regression_error_below_its_lower_threshold_is_an_improvement_notice_that_does_not_page() -> None:
    # Given a regression model whose MAE falls from 847 to 718, below its lower threshold of 800
    runs = Runs(_config("regression"))
    runs.run([_row("mae", 0, 847.0)], _hour(1))
    runs.run([_row("mae", 1, 718.0)], _hour(2))

    # Then no degradation incident, nothing that pages, and one notice that says improvement, not degraded
    assert runs.events == [(IMPROVEMENT, OPENED)]
    assert DEGRADATION not in runs.documents and paging_metrics(runs.documents) == []
    assert runs.subjects == ["modelwatch: car-loan improved unexpectedly: mae 718 (est.) < 800 since 01:00"]
    assert "degraded" not in runs.texts[0] and "it does not page" in runs.texts[0]

    # And when the config asks for both directions, the same improvement pages
    both = Runs(_config("regression", direction="both"))
    both.run([_row("mae", 1, 718.0)], _hour(2))
    assert paging_metrics(both.documents) == ["mae"]


def test_a_higher_error_is_a_degradation() -> None:
    runs = Runs(_config("regression"))
    runs.run([_row("mae", 0, 935.0)], _hour(1))
    assert runs.events == [(DEGRADATION, OPENED)]
    assert runs.subjects == ["modelwatch: car-loan degraded: mae 935 (est.) > 890 since 00:00"]


def test_m_of_n_chunks_in_alert() -> None:
    # Given "2 of the last 3 chunks", one chunk in alert alone opens nothing; a second within three does
    runs = Runs(_config(in_alert=ChunksInAlert(chunks=2, of_last=3)))
    for hour, value in enumerate([0.95, 0.92, 0.95, 0.95, 0.92, 0.95, 0.92, 0.95, 0.95, 0.95]):
        runs.run([_row("f1", hour, value), _row("accuracy", hour, 0.95)], _hour(hour + 1))

    # Then 01:00 and 04:00 alone open nothing; 06:00 (with 04:00 among the last 3) opens it, since 04:00; the
    # next chunk leaves one crossing among the last 3 and closes it
    assert runs.events == [(DEGRADATION, OPENED), (DEGRADATION, CLOSED_EVENT)]
    assert runs.subjects[0].endswith("since 04:00")
    assert runs.subjects[1] == "modelwatch: car-loan recovered: f1 back in range after 3 h"


def test_confidence_band_beyond_the_threshold() -> None:
    # Given estimates just below the threshold whose confidence bands reach above it
    runs = Runs(_config(band_beyond_threshold=True))
    runs.run([_row("f1", 0, 0.93, band=0.01), _row("accuracy", 0, 0.95)], _hour(1))
    assert runs.events == []

    # When an estimate's whole band lies below, then it alerts
    runs.run([_row("f1", 1, 0.90, band=0.01), _row("accuracy", 1, 0.95)], _hour(2))
    assert runs.events == [(DEGRADATION, OPENED)]


def test_a_run_that_analysed_nothing_changes_nothing() -> None:
    runs = Runs(_config())
    runs.run([_row("f1", 0, 0.92), _row("accuracy", 0, 0.95)], _hour(1))
    config = runs.config
    decision = decide(config, DEGRADATION, runs.documents[DEGRADATION], [], _hour(30), "empty")
    assert decision.document is None and decision.events == []


def test_the_opened_incident_names_the_features_drifting_with_each_metrics_crossing() -> None:
    from modelwatch.monitors.drift import coinciding_drift

    # Given f1 crossing its threshold at 03:00, two features in drift alert in that chunk, one not, and one in
    # drift alert in another chunk (#14)
    config = _config()

    def drift(hour: int, feature: str, value: float, alert: bool) -> ResultRow:
        start = START + timedelta(hours=hour)
        return ResultRow(
            monitor="drift", metric="jensen_shannon", kind="univariate", chunk_start=start,
            chunk_end=start + timedelta(hours=1), value=value, lower_bound=None, upper_bound=None,
            lower_threshold=None, upper_threshold=0.1, alert=alert, label_coverage=None, rows=3000, feature=feature,
        )  # fmt: skip

    rows = [_row("f1", h, v) for h, v in enumerate([0.95, 0.951, 0.949, 0.913])]
    rows += [_row("accuracy", h, 0.95) for h in range(4)]
    rows += [drift(3, "car_value", 0.15, True), drift(3, "tenure", 0.4, True), drift(3, "age", 0.05, False)]
    rows.append(drift(2, "salary", 0.5, True))
    views = views_by_kind(config, rows, candidates(config, rows, {}))
    decision = decide(config, DEGRADATION, None, views[DEGRADATION], _hour(4), "run-1")
    context = RunContext(
        run_id="run-1", published_at=_hour(4), drift_by_chunk=coinciding_drift(rows, {r.chunk_start for r in rows})
    )

    # When the opened incident's message is built
    (event,) = decision.events
    note = build_incident_notification(config, event, views[DEGRADATION], context)

    # Then f1's line names them, most drifted first, with method, distance and threshold; accuracy names none
    assert "drifting with it: tenure (jensen_shannon 0.4000 > 0.1000), car_value (jensen_shannon 0.1500 > 0.1000)" in (
        note.text
    )
    assert "salary (" not in note.text and "age (" not in note.text
    by_metric = {m["metric"]: m for m in note.data["metrics"]}
    assert [d["feature"] for d in by_metric["f1"]["drifting_features"]] == ["tenure", "car_value"]
    assert by_metric["f1"]["drifting_features"][0] == {
        "feature": "tenure", "method": "jensen_shannon", "distance": 0.4, "threshold": 0.1,
    }  # fmt: skip
    assert by_metric.get("accuracy", {"drifting_features": []})["drifting_features"] == []


def test_a_model_without_drift_monitoring_is_not_told_that_no_feature_drifts() -> None:
    # Given an incident of a model with drift monitoring on, and the same of one with it off
    notes = {}
    for drift_on in (True, False):
        config = _config()
        if not drift_on:
            estimation = config.estimation.model_copy(update={"drift_metrics": False, "top_features": 0})
            config = config.model_copy(update={"estimation": estimation})
        rows = [_row("f1", h, v) for h, v in enumerate([0.95, 0.951, 0.949, 0.913])]
        views = views_by_kind(config, rows, candidates(config, rows, {}))
        (event,) = decide(config, DEGRADATION, None, views[DEGRADATION], _hour(4), "run-1").events
        context = RunContext(run_id="run-1", published_at=_hour(4))
        notes[drift_on] = build_incident_notification(config, event, views[DEGRADATION], context).text

    # Then the first says no feature is in drift alert, the second that drift is not monitored (nothing was checked)
    assert "Top drifting features: none in drift alert" in notes[True]
    assert "Drift: not monitored" in notes[False] and "Top drifting features" not in notes[False]
