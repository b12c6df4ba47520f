"""Boto clients are created only under the lock in-process invocations hold while they change os.environ."""

from __future__ import annotations

import threading

import boto3

from modelwatch_cli.local.functions import serialized_client_creation


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
