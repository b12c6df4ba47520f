"""The JSONPath subset used by model configs."""

from __future__ import annotations

import pytest

from modelwatch.jsonpath import JsonPathError, compile_path, key_path

DOC = {
    "predictions": [{"score": 0.1, "label": 0}, {"score": 0.9, "label": 1}],
    "a b": {"c": [5, 6]},
    "Int'l Plan_no": 1,
    'say "hi"': 2,
    "back\\slash]['": 3,
    "": 4,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DOC),
        ("$.predictions[*].score", [0.1, 0.9]),
        ("$.predictions[1].label", 1),
        ("$['a b'].c", [5, 6]),
        ("$['a b'].c[0]", 5),
        ("$.predictions[*]", DOC["predictions"]),
        ("$['Int\\'l Plan_no']", 1),
        ('$["Int\'l Plan_no"]', 1),
        ('$["say \\"hi\\""]', 2),
        ("$['say \"hi\"']", 2),
        ("$['back\\\\slash][\\'']", 3),
        ("$['']", 4),
    ],
)
def test_values(path: str, expected: object) -> None:
    assert compile_path(path).value(DOC) == expected


@pytest.mark.parametrize("key", list(DOC))
def test_every_key_can_be_written_as_a_path(key: str) -> None:
    # Given any JSON key, When written by key_path and compiled, Then it finds that key
    path = compile_path(key_path(key))
    assert path.steps == (key,)
    assert path.value(DOC) == DOC[key]


def test_missing_quoted_keys_are_named_as_written() -> None:
    with pytest.raises(JsonPathError, match=r"\$\['Int\\'l Plan_yes'\] not found"):
        compile_path(key_path("Int'l Plan_yes")).value(DOC)


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


@pytest.mark.parametrize("path", ["predictions", "$.", "$[x]", "$..a", "$.a[-1]", "$['a", "$['a'", "$['a'b]", "$['a\\"])
def test_invalid_paths(path: str) -> None:
    with pytest.raises(JsonPathError, match="invalid JSON path"):
        compile_path(path)
