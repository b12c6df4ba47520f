"""The model registry: each model's config and reference data live in the lake under `models/<name>/`."""

from __future__ import annotations

import builtins
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath

from modelwatch.config.model import ModelConfig, load_model_config_text
from modelwatch.constants import LAKE_MODELS
from modelwatch.errors import LakeError, RegistryError
from modelwatch.lake import layout
from modelwatch.lake.store import ObjectStore

REFERENCE_SUFFIXES = (".parquet", ".csv")
# Concurrent config reads when many changed (a cold container of a thousand models): S3 answers a GET in tens of
# milliseconds, so one at a time is about 20 s for a thousand; 16 at once about one second.
READ_WORKERS = 16
# Parsed configs by object URI and tag (ETag), for the whole process: a warm Lambda re-reads only the configs whose
# tag changed since it last listed them, so the ingest functions' per-invocation registry costs one LIST, not a GET
# per model. A new Registry (one per invocation) still sees every change: the LIST is never cached across instances.
_PARSED: dict[str, tuple[str, ModelConfig]] = {}
_PARSED_LOCK = threading.Lock()


class Registry:
    """Registered model configs in an ObjectStore; lookups are cached for `cache_seconds` (warm Lambdas)."""

    def __init__(self, store: ObjectStore, cache_seconds: float = 60.0) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: builtins.list[ModelConfig] | None = None
        self._cached_at = 0.0

    def register(
        self, config: ModelConfig, reference: bytes | None = None, reference_suffix: str = ".parquet"
    ) -> ModelConfig:
        """Store the config (and reference data); the stored config's `reference` points at the stored copy."""
        if reference is not None:
            if reference_suffix not in REFERENCE_SUFFIXES:
                raise RegistryError(f"reference data must be one of {REFERENCE_SUFFIXES}, got {reference_suffix!r}")
            key = layout.model_reference_key(config.name)
            if reference_suffix != ".parquet":
                key = str(PurePosixPath(key).with_suffix(reference_suffix))
            self.store.put(key, reference)
            config = config.model_copy(update={"reference": self.store.uri(key)})
        elif not config.reference:
            raise RegistryError(f"model {config.name}: no reference data (set `reference` or pass --reference)")
        self.store.put(layout.model_config_key(config.name), config.to_yaml().encode(), "application/yaml")
        self._cache = None
        return config

    def get(self, name: str) -> ModelConfig:
        key = layout.model_config_key(name)
        try:
            text = self.store.get(key)
        except LakeError as exc:
            raise RegistryError(f"model {name!r} is not registered") from exc
        return load_model_config_text(text, self.store.uri(key))

    def names(self) -> builtins.list[str]:
        names = set()
        for key in self.store.list(f"{LAKE_MODELS}/"):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == "config.yaml":
                names.add(parts[1])
        return sorted(names)

    def list(self) -> builtins.list[ModelConfig]:
        """Every registered config, by name: one LIST, then a GET only for configs this process has not parsed at
        their current tag (READ_WORKERS at once)."""
        now = time.monotonic()
        if self._cache is None or now - self._cached_at > self.cache_seconds:
            self._cache = self._read_configs()
            self._cached_at = now
        return list(self._cache)

    def _read_configs(self) -> builtins.list[ModelConfig]:
        tagged = {}
        for key, tag in self.store.list_tagged(f"{LAKE_MODELS}/"):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == "config.yaml":
                tagged[parts[1]] = (self.store.uri(key), tag)
        with _PARSED_LOCK:
            known = {
                name: _PARSED[uri][1]
                for name, (uri, tag) in tagged.items()
                if tag and _PARSED.get(uri, ("",))[0] == tag
            }
        stale = sorted(set(tagged) - set(known))
        if len(stale) > 1:
            with ThreadPoolExecutor(max_workers=min(READ_WORKERS, len(stale))) as pool:
                known.update(zip(stale, pool.map(self.get, stale), strict=True))
        else:
            known.update((name, self.get(name)) for name in stale)
        with _PARSED_LOCK:
            for name in stale:
                uri, tag = tagged[name]
                if tag:
                    _PARSED[uri] = (tag, known[name])
        return [known[name] for name in sorted(tagged)]

    def unregister(self, name: str) -> builtins.list[str]:
        """Remove the model's config, reference and fitted estimators; returns the deleted keys."""
        if name not in self.names():
            raise RegistryError(f"model {name!r} is not registered")
        keys = list(self.store.list(f"{LAKE_MODELS}/{name}/"))
        self.store.delete(keys)
        self._cache = None
        return keys

    def for_capture(self, endpoint: str, variant: str) -> builtins.list[ModelConfig]:
        """Models that read captures of this endpoint and variant."""
        return [c for c in self.list() if c.endpoint == endpoint and c.variant == variant]

    def for_batch_capture(self, key: str) -> builtins.list[ModelConfig]:
        """Models whose `batch_transform.capture` (a batch transform job's DestinationS3Uri) holds this key."""
        found = []
        for config in self.list():
            prefix = config.batch_transform.capture_key_prefix if config.batch_transform else None
            if prefix and key.lstrip("/").startswith(prefix.lstrip("/")):
                found.append(config)
        return found

    def for_ground_truth(self, key: str) -> builtins.list[ModelConfig]:
        """Models whose `ground_truth.prefix` holds this object key (`s3://bucket/prefix/` or `prefix/`)."""
        matches = []
        for config in self.list():
            prefix = config.ground_truth.prefix
            if not prefix:
                continue
            if prefix.startswith("s3://"):
                prefix = prefix[5:].partition("/")[2]
            if key.startswith(prefix) or key.lstrip("/").startswith(prefix.lstrip("/")):
                matches.append(config)
        return matches
