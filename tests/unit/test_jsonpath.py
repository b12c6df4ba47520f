"""The JSONPath subset used by model configs."""

from __future__ import annotations

import pytest

from modelwatch.jsonpath import JsonPathError, compile_path

DOC = {"predictions": [{"score": 0.1, "label": 0}, {"score": 0.9, "label": 1}], "a b": {"c": [5, 6]}}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DOC),
        ("$.predictions[*].score", [0.1, 0.9]),
        ("$.predictions[1].label", 1),
        ("$['a b'].c", [5, 6]),
        ("$['a b'].c[0]", 5),
        ("$.predictions[*]", DOC["predictions"]),
    ],
)
def test_values(path: str, expected: object) -> None:
    assert compile_path(path).value(DOC) == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("$.missing", r"\$.missing not found"),
        ("$.predictions[5]", r"\$.predictions\[5\] not found"),
        ("$.predictions[*].nope", r"\$.predictions\[\*\].nope not found"),
        ("$['a b'].c[*].d", r"\$\['a b'\].c\[\*\].d not found"),
        ("$['a b'][*]", r"\$\['a b'\] is not a list"),
    ],
)
def test_missing_paths_name_the_step(path: str, message: str) -> None:
    with pytest.raises(JsonPathError, match=message):
        compile_path(path).value(DOC)


@pytest.mark.parametrize("path", ["predictions", "$.", "$[x]", "$..a", "$.a[-1]"])
def test_invalid_paths(path: str) -> None:
    with pytest.raises(JsonPathError, match="invalid JSON path"):
        compile_path(path)
