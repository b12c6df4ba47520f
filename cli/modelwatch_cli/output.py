"""Keeping a verb's own output clean while it runs Lambda domain code: that code's structured logs and EMF metric
lines (printed for CloudWatch Logs, meaningless on a terminal) go to stderr with --verbose, else nowhere."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TextIO

import click

from modelwatch.observability import logger


def verbose_requested() -> bool:
    """Whether the group's --verbose was given (False when a command is invoked on its own, as in tests)."""
    context = click.get_current_context(silent=True)
    obj = context.find_root().obj if context is not None else None
    return bool(isinstance(obj, dict) and obj.get("verbose"))


@contextlib.contextmanager
def domain_output(verbose: bool | None = None) -> Iterator[None]:
    """Redirect stdout and the Powertools logger's console handler for the duration."""
    verbose = verbose_requested() if verbose is None else verbose
    with contextlib.ExitStack() as stack:
        target: IO[str] = sys.stderr if verbose else stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
        # Only our own logger's handler: other handlers (a test runner's capture, say) are not ours to move.
        handler = logger.registered_handler
        old = handler.stream if isinstance(handler, logging.StreamHandler) else None
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(target)
        try:
            with contextlib.redirect_stdout(target):
                yield
        finally:
            if isinstance(handler, logging.StreamHandler) and old is not None:
                handler.setStream(old)


class _Tally(logging.Handler):
    """Counts a library logger's warnings instead of printing them."""

    def __init__(self, tally: Counter[str]) -> None:
        super().__init__(logging.WARNING)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        self.tally[f"{record.levelname} {record.name}: {_first_line(record.getMessage())}"] += 1


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


LIBRARY_LOGGERS = ("nannyml",)  # loggers whose warnings go to the run's log, not the console


@contextlib.contextmanager
def captured_warnings(log: Path) -> Iterator[Counter[str]]:
    """Count the warnings libraries raise meanwhile (nannyml's "single class for chunk", Powertools' "no metrics to
    publish", ...) instead of printing them; on exit append them to `log` with a count each (the messages name
    columns and chunks, never values). Yields the tally (its total: `sum(tally.values())`)."""
    tally: Counter[str] = Counter()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        tally[f"{category.__name__} ({Path(filename).parent.name}/{Path(filename).name}): {_first_line(message)}"] += 1

    handler = _Tally(tally)
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    saved = [(logger_.propagate, logger_) for logger_ in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # every occurrence counted, not only a module's first
        warnings.showwarning = show
        for item in loggers:
            item.addHandler(handler)
            item.propagate = False
        try:
            yield tally
        finally:
            for propagate, item in saved:
                item.removeHandler(handler)
                item.propagate = propagate
            if tally:
                log.parent.mkdir(parents=True, exist_ok=True)
                with log.open("a", encoding="utf-8") as handle:
                    handle.write(f"library warnings: {sum(tally.values())}\n")
                    for text, count in tally.most_common():
                        handle.write(f"  {count} x {text}\n")
