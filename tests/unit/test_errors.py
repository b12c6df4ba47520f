"""No payload value leaves in an error: other libraries' messages are reduced, and a handler's unhandled error too."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import BaseModel

from modelwatch import entry
from modelwatch.errors import ConfigError, EmptyWindowError, WithheldError, describe, withheld

SECRET = "alice-4711"


def _raised(call) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        call()
    except Exception as exc:  # the error under test
        return exc
    raise AssertionError("no error raised")


@pytest.mark.parametrize(
    "error",
    [
        ValueError(f"could not convert string to float: {SECRET}"),  # unquoted, after the colon
        ValueError(f'Unable to parse string "{SECRET}" at position 3'),  # quoted
        KeyError(SECRET),
        TypeError(f"unsupported operand: {SECRET} and 7"),
    ],
)
def test_another_librarys_message_keeps_its_type_and_lead_in_never_the_value(error: Exception) -> None:
    line = describe(error)
    assert line.startswith(type(error).__name__ + ":")
    assert "alice" not in line and "4711" not in line


def test_a_real_parser_error_is_reduced_where_the_value_follows() -> None:
    # Given pandas failing on a value it cannot parse
    error = _raised(lambda: pd.to_numeric(pd.Series(["1.5", SECRET])))
    # Then the line says what failed, not on what
    line = describe(error)
    assert line.startswith("ValueError: Unable to parse string") and "alice" not in line


def test_modelwatchs_own_messages_pass_as_they_are() -> None:
    error = EmptyWindowError("model m: no captures in the window 2026-03-02T00:00Z to 2026-03-03T00:00Z")
    assert describe(error) == str(error)


def test_withheld_keeps_the_type_name_step_functions_catches() -> None:
    reduced = withheld(ValueError(f"could not convert string to float: {SECRET}"))
    assert isinstance(reduced, WithheldError) and type(reduced).__name__ == "ValueError"
    assert str(reduced) == "ValueError: could not convert string to float: …"
    assert type(withheld(ValueError("again"))) is type(reduced)  # one class per name, not one per error


class _Event(BaseModel):
    model: str


def _handler(error: Exception):  # type: ignore[no-untyped-def]
    @entry.parsed_event(_Event)
    def handler(event: _Event, context: object) -> None:
        raise error

    return handler


def test_a_handlers_unhandled_library_error_leaves_without_the_value_or_its_cause() -> None:
    # Given a handler whose domain call fails inside a parser quoting the data
    handler = _handler(ValueError(f"could not convert string to float: {SECRET}"))
    # When Lambda would invoke it
    error = _raised(lambda: handler({"model": "m"}, None))
    # Then what Lambda logs and returns (type name, message, chained errors) holds no value
    assert type(error).__name__ == "ValueError"
    assert "alice" not in str(error) and error.__cause__ is None and error.__suppress_context__


def test_a_handlers_own_errors_and_bad_events_pass_by_name() -> None:
    own = EmptyWindowError("model m: no captures in the window")
    assert _raised(lambda: _handler(own)({"model": "m"}, None)) is own
    bad = _raised(lambda: _handler(own)({"model": {"nested": SECRET}}, None))
    assert isinstance(bad, ConfigError) and "model" in str(bad) and "alice" not in str(bad) and bad.__cause__ is None
