"""Capture decoding: SageMaker data-capture and ground-truth JSONL into typed rows."""
