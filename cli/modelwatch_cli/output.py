"""Keeping a verb's own output clean while it runs Lambda domain code: that code's structured logs and EMF metric
lines (printed for CloudWatch Logs, meaningless on a terminal) go to stderr with --verbose, else nowhere."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import IO

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
