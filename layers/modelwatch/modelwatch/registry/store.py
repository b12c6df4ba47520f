"""The model registry: each model's config and reference data live in the lake under `models/<name>/`.

What the pipeline monitors are units (modelwatch.units): a registered model, or, for a model that watches several
production variants, one unit `<name>.<variant>` per variant, made from the model's config (`ModelConfig.unit`).
Every lookup but `registered` answers in units; a variant found under the endpoint of a model watching every variant
(`variants: "*"`) is remembered by a marker, `models/<name>/variants/<variant>`, when its first capture is ingested.
"""

from __future__ import annotations

import builtins
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath

from modelwatch.config.model import ALL_VARIANTS, ModelConfig, load_model_config_text
from modelwatch.constants import LAKE_MODELS
from modelwatch.errors import ConfigError, LakeError, RegistryError
from modelwatch.lake import layout
from modelwatch.lake.store import ObjectStore
from modelwatch.observability import logger
from modelwatch.units import SEPARATOR, split_unit

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
        self._cache: builtins.list[ModelConfig] | None = None  # every unit
        self._models: builtins.list[ModelConfig] = []  # the registered configs the units were made from
        self.unreadable: dict[str, str] = {}  # registered models whose config cannot be read, with why
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
        """A registered model's config, or a unit's (`<model>.<variant>`)."""
        model, variant = split_unit(name)
        key = layout.model_config_key(model)
        try:
            text = self.store.get(key)
        except LakeError as exc:
            raise RegistryError(f"model {model!r} is not registered") from exc
        config = load_model_config_text(text, self.store.uri(key))
        if variant is None:
            return config
        try:
            return config.unit(variant)
        except ConfigError as exc:
            raise RegistryError(str(exc)) from exc

    def _listing(self) -> tuple[builtins.list[str], dict[str, builtins.list[str]]]:
        """Registered model names, and the variants each has seen (markers), from one listing of `models/`."""
        names: set[str] = set()
        seen: dict[str, builtins.list[str]] = {}
        for key in self.store.list(f"{LAKE_MODELS}/"):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == "config.yaml":
                names.add(parts[1])
            elif len(parts) == 4 and parts[2] == layout.VARIANTS_FOLDER:
                seen.setdefault(parts[1], []).append(parts[3])
        return sorted(names), seen

    def registered(self) -> builtins.list[str]:
        """The registered models' names (a model watching several variants once)."""
        return self._listing()[0]

    def names(self) -> builtins.list[str]:
        """The monitored units' names: each registered model, or its units when it watches several variants. A model
        whose config cannot be read is listed under its own name, so its run fails on its own, saying why."""
        units = [c.name for c in self.list()]
        return sorted([*units, *self.unreadable])

    def list(self) -> builtins.list[ModelConfig]:
        """The monitored units' configs (see the module doc): one LIST, then a GET only for configs this process has
        not parsed at their current tag (READ_WORKERS at once)."""
        now = time.monotonic()
        if self._cache is None or now - self._cached_at > self.cache_seconds:
            self._models, seen = self._read_configs()
            self._cache = [unit for model in self._models for unit in model.units(seen.get(model.name, []))]
            self._cached_at = now
        return list(self._cache)

    def models(self) -> builtins.list[ModelConfig]:
        """The registered models' configs as registered (a model watching several variants once; see `list`)."""
        self.list()
        return builtins.list(self._models)

    def units_of(self, model: str) -> builtins.list[ModelConfig]:
        """The units a registered model is monitored as (itself, or one per variant)."""
        return [c for c in self.list() if c.model_name == model]

    def _read_configs(self) -> tuple[builtins.list[ModelConfig], dict[str, builtins.list[str]]]:
        """Every registered config by name, and the variants each has seen (markers), from one tagged LIST."""
        tagged = {}
        seen: dict[str, builtins.list[str]] = {}
        for key, tag in self.store.list_tagged(f"{LAKE_MODELS}/"):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == "config.yaml":
                tagged[parts[1]] = (self.store.uri(key), tag)
            elif len(parts) == 4 and parts[2] == layout.VARIANTS_FOLDER:
                seen.setdefault(parts[1], []).append(parts[3])
        with _PARSED_LOCK:
            known = {
                name: _PARSED[uri][1]
                for name, (uri, tag) in tagged.items()
                if tag and _PARSED.get(uri, ("",))[0] == tag
            }
        stale = sorted(set(tagged) - set(known))
        if len(stale) > 1:
            with ThreadPoolExecutor(max_workers=min(READ_WORKERS, len(stale))) as pool:
                read = dict(zip(stale, pool.map(self._readable, stale), strict=True))
        else:
            read = {name: self._readable(name) for name in stale}
        self.unreadable = {name: why for name, why in read.items() if isinstance(why, str)}
        known.update((name, config) for name, config in read.items() if not isinstance(config, str))
        stale = [name for name in stale if name in known]
        with _PARSED_LOCK:
            for name in stale:
                uri, tag = tagged[name]
                if tag:
                    _PARSED[uri] = (tag, known[name])
        return [known[name] for name in sorted(tagged) if name in known], seen

    def _readable(self, name: str) -> ModelConfig | str:
        """The model's config, or why it cannot be read (one bad config must not hide the other models)."""
        try:
            return self.get(name)
        except (ConfigError, RegistryError) as exc:
            logger.warning("model config unreadable", model=name, error=type(exc).__name__)
            return str(exc)

    def unregister(self, name: str) -> builtins.list[str]:
        """Remove the model's config, reference and fitted estimators (its units' too); returns the deleted keys."""
        if SEPARATOR in name:
            model = split_unit(name)[0]
            raise RegistryError(f"{name!r} is a variant of model {model!r}: unregister the model")
        if name not in self.registered():
            raise RegistryError(f"model {name!r} is not registered")
        keys = list(self.store.list(f"{LAKE_MODELS}/{name}/"))
        keys += list(self.store.list(f"{LAKE_MODELS}/{name}{SEPARATOR}"))
        self.store.delete(keys)
        self._cache = None
        return keys

    def for_capture(self, endpoint: str, variant: str) -> builtins.list[ModelConfig]:
        """Units that read captures of this endpoint and variant. A model watching every variant gets a unit for a
        variant it has not seen before, remembered from then on."""
        found = [c for c in self.list() if c.endpoint == endpoint and c.variant == variant]
        known = {c.model_name for c in found}
        for config in self._models:
            if config.name in known or config.endpoint != endpoint or config.variants != ALL_VARIANTS:
                continue
            if config.reads_variant(variant):
                self.store.put(layout.model_variant_key(config.name, variant), b"", "text/plain")
                found.append(config.unit(variant))
                self._cache = None
        return found

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
