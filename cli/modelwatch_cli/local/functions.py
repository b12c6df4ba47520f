"""Run the template's Lambda handlers in-process with their resolved environment, one invocation at a time."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import botocore.session

from modelwatch.constants import ENV_CLOCK_OVERRIDE
from modelwatch.errors import ConfigError
from modelwatch_cli.local.adapter import InvocationResult
from modelwatch_cli.local.template import FunctionSpec


@dataclass
class LambdaContext:
    """The attributes handlers and Powertools read from the Lambda context."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_seconds: int = 300
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """As Lambda's: the function's timeout less the time since the invocation started."""
        return max(int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000), 0)


@dataclass
class Invocation:
    """One finished invocation: what went in, what came out, what it printed (EMF metrics live there)."""

    function: FunctionSpec
    event: Any
    result: InvocationResult
    stdout: str
    wall_start: float
    wall_end: float
    simulated_time: datetime


class LocalFunctions:
    """Loads `functions/<dir>/app.py` handlers by function name and invokes them like Lambda would.

    os.environ is process-wide, so invocations are serialized with a lock (moto runs executions in threads), and
    so is every boto client creation while the stack runs (see `serialized_client_creation`).
    """

    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        now: Callable[[], datetime],
        base_environment: dict[str, str] | None = None,
        log_stream: IO[str] | None = None,
        credentials: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._by_name = {spec.name: spec for spec in functions.values()}
        self._by_logical_id = dict(functions)
        self._now = now
        self._base_environment = dict(base_environment or {})
        # Per function (logical id): its role's temporary keys, as Lambda puts them in the function's environment.
        self._credentials = {logical_id: dict(values) for logical_id, values in (credentials or {}).items()}
        self._log_stream = log_stream
        self._modules: dict[Path, ModuleType] = {}
        self._lock = threading.RLock()
        self.listeners: list[Callable[[Invocation], None]] = []
        self.invocations = 0
        self.errors = 0
        self.seconds: dict[str, float] = {}  # wall seconds spent per function (for progress and tuning)

    @property
    def lock(self) -> threading.RLock:
        """Held while an invocation has the function's environment in os.environ."""
        return self._lock

    def spec(self, name_or_logical_id: str) -> FunctionSpec:
        spec = self._by_name.get(name_or_logical_id) or self._by_logical_id.get(name_or_logical_id)
        if spec is None:
            raise ConfigError(f"no function {name_or_logical_id} in the template")
        return spec

    def route(self, function_name: str, event: Any) -> InvocationResult:
        """The router moto's Lambda seam calls (see adapter.route_lambda_invocations)."""
        return self.invoke(function_name, event).result

    def invoke(self, name_or_logical_id: str, event: Any) -> Invocation:
        spec = self.spec(name_or_logical_id)
        with self._lock:
            handler = self._handler(spec)
            context = LambdaContext(
                function_name=spec.name, invoked_function_arn=spec.arn, timeout_seconds=spec.timeout
            )
            simulated = self._now()
            environment = {
                **self._environment(spec),
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                ENV_CLOCK_OVERRIDE: simulated.isoformat(),
            }
            stdout = io.StringIO()
            wall_start = time.time()
            with _patched_environ(environment), contextlib.redirect_stdout(stdout), self._logs_redirected():
                try:
                    payload = handler(event, context)
                    result = InvocationResult(payload=payload)
                except Exception as exc:  # a handler error is the function's error, as on Lambda
                    self.errors += 1
                    if self._log_stream is not None:
                        self._log_stream.write("".join(traceback.format_exception(exc)))
                    result = InvocationResult(error_type=type(exc).__name__, error_message=str(exc))
            self.invocations += 1
            self.seconds[spec.logical_id] = self.seconds.get(spec.logical_id, 0.0) + time.time() - wall_start
            invocation = Invocation(spec, event, result, stdout.getvalue(), wall_start, time.time(), simulated)
            for listener in self.listeners:
                listener(invocation)
            return invocation

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        module = self._modules.get(spec.handler_file)
        if module is None:
            if not spec.handler_file.is_file():
                raise ConfigError(f"{spec.logical_id}: handler file {spec.handler_file} does not exist")
            module_name = f"modelwatch_local_fn_{spec.handler_file.parent.name}"
            loader_spec = importlib.util.spec_from_file_location(module_name, spec.handler_file)
            assert loader_spec is not None and loader_spec.loader is not None
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[module_name] = module
            with _patched_environ(self._environment(spec)):
                loader_spec.loader.exec_module(module)
            self._modules[spec.handler_file] = module
        handler = getattr(module, spec.handler_attribute, None)
        if not callable(handler):
            raise ConfigError(f"{spec.logical_id}: {spec.handler_file} has no handler {spec.handler_attribute}")
        return handler

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        return {**self._base_environment, **spec.environment, **self._credentials.get(spec.logical_id, {})}

    def _logs_redirected(self) -> contextlib.AbstractContextManager[None]:
        return redirect_logs(self._log_stream)


@contextlib.contextmanager
def redirect_logs(stream: IO[str] | None) -> Iterator[None]:
    """Point the console handlers of every (Powertools) logger at `stream` for a while (None: leave them)."""
    if stream is None:
        yield
        return
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    # Powertools loggers are named after the service (or "service_undefined" when imported before the
    # environment was set): swap every console handler of non-root loggers.
    seen: set[int] = set()
    for logger in [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]:
        for handler in getattr(logger, "handlers", []):
            if id(handler) in seen or not isinstance(handler, logging.StreamHandler):
                continue
            if isinstance(handler, logging.FileHandler) or handler.stream is stream:
                continue
            seen.add(id(handler))
            old = handler.stream
            try:
                handler.setStream(stream)
            except AttributeError:  # a handler bound to the current stderr (logging's _StderrHandler, e.g. dill's)
                continue
            # setStream returns None when nothing changes: keep the old stream ourselves.
            swapped.append((handler, old))
    try:
        yield
    finally:
        for handler, old in swapped:
            handler.setStream(old)


@contextlib.contextmanager
def serialized_client_creation(lock: threading.RLock) -> Iterator[None]:
    """Create boto clients only under `lock`, the lock invocations hold while they change os.environ.

    Creating a client iterates os.environ (urllib's proxy settings); an invocation in another thread removing its
    function's variables meanwhile makes that a KeyError. moto's Step Functions threads create a client for every
    task, so a Lambda task failed now and then with `Exception: '<a function variable>'` (a FAILED execution).
    """
    original = botocore.session.Session.create_client

    def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    botocore.session.Session.create_client = create_client
    try:
        yield
    finally:
        botocore.session.Session.create_client = original


@contextlib.contextmanager
def _patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
