"""Boto clients are created only under the lock in-process invocations hold while they change os.environ."""

from __future__ import annotations

import threading

import boto3

from modelwatch_cli.local.functions import LambdaContext, serialized_client_creation


def _create(done: threading.Event) -> None:
    boto3.client("sqs", region_name="us-east-1", aws_access_key_id="ak", aws_secret_access_key="sk")
    done.set()


def test_client_creation_waits_while_an_invocation_holds_the_environment() -> None:
    lock = threading.RLock()
    created = threading.Event()
    with serialized_client_creation(lock):
        with lock:  # an invocation in progress: its function's variables are in os.environ
            worker = threading.Thread(target=_create, args=(created,), daemon=True)
            worker.start()
            assert not created.wait(0.5)
        assert created.wait(30)
        worker.join(30)
        with lock:  # the invocation thread itself still creates clients (reentrant)
            _create(threading.Event())


def test_the_patch_is_undone() -> None:
    lock = threading.RLock()
    with serialized_client_creation(lock):
        pass
    created = threading.Event()
    with lock:
        worker = threading.Thread(target=_create, args=(created,), daemon=True)
        worker.start()
        assert created.wait(30)
    worker.join(30)


def test_the_local_context_counts_its_remaining_time_down_from_the_functions_timeout() -> None:
    # Given an invocation of a function with a 900 s timeout that started 899.5 s ago
    context = LambdaContext(
        "AnalyseFunction", "arn:aws:lambda:us-east-1:0:function:AnalyseFunction", timeout_seconds=900
    )
    assert 899_000 < context.get_remaining_time_in_millis() <= 900_000
    context.started -= 899.5
    # Then about half a second is left, and once past the timeout nothing (never a negative time)
    assert 0 < context.get_remaining_time_in_millis() <= 500
    context.started -= 10
    assert context.get_remaining_time_in_millis() == 0
