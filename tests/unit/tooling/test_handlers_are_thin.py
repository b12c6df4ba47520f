"""Handlers stay thin: short, typed events, one domain call, clients only from `modelwatch.aws`."""

from __future__ import annotations

import ast

import pytest

from tests.helpers import FUNCTIONS

HANDLERS = sorted(FUNCTIONS.glob("*/app.py"))
MAX_LINES = 45
# What a handler may import: the handler plumbing of Powertools, typing, and the modelwatch package.
ALLOWED_ROOTS = {"__future__", "typing", "aws_lambda_powertools", "modelwatch"}


@pytest.mark.parametrize("path", HANDLERS, ids=lambda p: p.parent.name)
def test_a_handler_is_short_and_builds_no_client_of_its_own(path) -> None:
    # Given a handler's source
    source = path.read_text()
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])

    # Then it is short, imports no AWS SDK, pandas or nannyml of its own, and caches nothing itself
    assert len(source.splitlines()) <= MAX_LINES
    assert imported <= ALLOWED_ROOTS, imported - ALLOWED_ROOTS
    assert "cache" not in source and "boto3" not in source
    handler = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lambda_handler")
    assert handler.returns is not None and handler.args.args[0].annotation is not None


def test_every_handler_is_checked() -> None:
    assert len(HANDLERS) == 10  # endpoint_update joined with model versions (#16)
