"""The one exception hierarchy of modelwatch; the state machine's Retry/Catch name these types."""

from __future__ import annotations

import re

# Quoted text and numbers in a message from another library may be values from the data: never passed on.
_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|-?\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\b", re.IGNORECASE)


class ModelwatchError(Exception):
    """Base of every error modelwatch raises on purpose."""


class ConfigError(ModelwatchError):
    """A model config or environment is invalid; the message names the field and the file."""


class CaptureReadError(ModelwatchError):
    """A capture or ground-truth object cannot be read at all (retry, then DLQ)."""


class IngestEventError(ModelwatchError):
    """An ingest queue message is not a readable S3 "Object Created" event (retry, then DLQ)."""


class RecordDecodeError(ModelwatchError):
    """One capture record cannot be decoded; it is quarantined with this message as the reason."""


class LakeError(ModelwatchError):
    """The lake cannot be read or written as expected."""


class AlreadyProcessedError(ModelwatchError):
    """A source object was already recorded as processed; the duplicate delivery is skipped."""


class EstimationError(ModelwatchError):
    """Performance estimation cannot run for a model (bad reference, empty window, ...)."""


class ConfigMismatchError(EstimationError):
    """The model config does not match the captured data (missing feature, wrong classes, ...)."""


class ChunkDataError(ConfigMismatchError):
    """Values in one chunk's rows cannot be used (a prediction outside the classes, ...): that chunk is skipped."""


class ChunkAnalysisError(EstimationError):
    """Every chunk a run analysed failed in the analysis itself (a chunk alone would have been skipped)."""


class EmptyWindowError(EstimationError):
    """No captured rows fall into the requested window."""


class ReferenceDataError(EstimationError):
    """The reference data cannot be used (missing columns, a single class, ...)."""


class PublishError(ModelwatchError):
    """Metrics or notifications could not be published after retries."""


class RegistryError(ModelwatchError):
    """A model cannot be registered, found or removed."""


class UntrustedArtifactError(ModelwatchError):
    """A stored artifact is not proven to be the analysis' own (unsigned, forged, moved or altered); not loaded."""


class SigningError(ModelwatchError):
    """An artifact cannot be signed, or its proof cannot be checked: the signing key is not usable."""


class WorkflowError(ModelwatchError):
    """A monitor run cannot be planned, started or recorded (run state, trigger claims, executions)."""


class LocalStackError(ModelwatchError):
    """The embedded local stack cannot be built from the template or did not settle."""


class OutputInUseError(ModelwatchError):
    """Another `modelwatch run` is writing into the same output folder."""


class WithheldError(Exception):
    """Another library's error leaving a Lambda handler, its message reduced by `describe` (Lambda logs and returns
    an unhandled error's message: it must not carry the data). Subclassed per name so Step Functions still sees the
    original error type."""


_WITHHELD: dict[str, type[WithheldError]] = {}


def withheld(exc: BaseException) -> WithheldError:
    """`exc` as a WithheldError of the same type name whose message is `describe(exc)`."""
    name = type(exc).__name__
    kind = _WITHHELD.setdefault(name, type(name, (WithheldError,), {"__module__": __name__}))
    return kind(describe(exc))


def describe(exc: BaseException, limit: int = 300) -> str:
    """An error as one line fit for logs, reasons and notifications: modelwatch's own messages as they are (they name
    fields and counts, never values); another library's cut where, by Python's convention, the offending value
    follows (the first ": ", as in "could not convert string to float: abc"), with quoted text and numbers blanked
    out of what is left."""
    if isinstance(exc, ModelwatchError | WithheldError):
        text = str(exc)
    else:
        head, colon, _ = str(exc).partition(": ")
        text = f"{type(exc).__name__}: {_VALUES.sub('…', head)}{': …' if colon else ''}"
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def modelwatch_error_names() -> set[str]:
    """The names of modelwatch's error classes (how Step Functions names a step's error)."""
    names: set[str] = set()
    pending: list[type[BaseException]] = [ModelwatchError]
    while pending:
        kind = pending.pop()
        names.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return names


def safe_cause(error: str, cause: str) -> str:
    """A failed step's cause fit to store and notify: a modelwatch error's message as it is, any other error's with
    quoted text and numbers blanked out (a library's message may quote the data)."""
    if error in modelwatch_error_names():
        return cause
    return _VALUES.sub("…", cause)
