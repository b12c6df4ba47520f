"""The one exception hierarchy of modelwatch; the state machine's Retry/Catch name these types."""

from __future__ import annotations


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


class EmptyWindowError(EstimationError):
    """No captured rows fall into the requested window."""


class ReferenceDataError(EstimationError):
    """The reference data cannot be used (missing columns, a single class, ...)."""


class PublishError(ModelwatchError):
    """Metrics or notifications could not be published after retries."""


class RegistryError(ModelwatchError):
    """A model cannot be registered, found or removed."""


class UntrustedArtifactError(ModelwatchError):
    """A stored artifact failed its manifest hash check and is not loaded."""


class WorkflowError(ModelwatchError):
    """A monitor run cannot be planned, started or recorded (run state, trigger claims, executions)."""


class LocalStackError(ModelwatchError):
    """The embedded local stack cannot be built from the template or did not settle."""
