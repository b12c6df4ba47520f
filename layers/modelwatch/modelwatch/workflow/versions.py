"""Model versions' lifecycle: register a version (`modelwatch register --version`), and take a pending version live
when its endpoint's update completes (`modelwatch.workflow.endpoint_events`).

Versions are append-only: a registered version keeps its name, reference and switch time; a new one goes after the
last. One registered without a time is pending: the endpoint's next update completing is its switch (the time the
event says it happened). SageMaker may send an event more than once: a model with no pending version ignores it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelwatch.clock import to_utc
from modelwatch.config.model import FIRST_VERSION, VersionSpec
from modelwatch.errors import RegistryError
from modelwatch.observability import logger
from modelwatch.publishing.metrics import iso
from modelwatch.registry.store import Registry
from modelwatch.workflow.lifecycle import ReferenceData, store_version_reference


def add_version(
    registry: Registry,
    model: str,
    version: str,
    reference: ReferenceData | None,
    effective_from: datetime | None,
) -> dict[str, Any]:
    """Append `version` to a registered model: its reference validated as the model's runs will read it and copied
    to `models/<model>/versions/<version>/`, live from `effective_from` (None: pending, live at the endpoint's next
    update). A model that declared no versions has had one so far: it becomes `v1`. RegistryError naming what is
    wrong (unknown model, a version listed already, a pending one in the way, a time not after the last switch)."""
    config = registry.get(model)
    if config.unit_of is not None:
        raise RegistryError(f"{model} is a unit of model {config.unit_of}: register versions on the model")
    versions = list(config.versions or [VersionSpec(name=FIRST_VERSION)])
    if any(v.name == version for v in versions):
        raise RegistryError(f"model {model}: version {version} is registered already (versions are append-only)")
    pending = config.pending_version
    if pending is not None:
        raise RegistryError(
            f"model {model}: version {pending.name} is pending (it goes live at the endpoint's next update); "
            "register another version after it is live"
        )
    last = config.version_spans()[-1].start
    if effective_from is not None and last is not None and to_utc(effective_from) <= last:
        raise RegistryError(f"model {model}: version {version} must go live after {iso(last)}, when the last one did")
    spec = VersionSpec.model_validate({"name": version, "from": effective_from})
    checked = None
    if reference is not None:
        uri, checked = store_version_reference(registry, config, version, reference)
        spec = spec.model_copy(update={"reference": uri})
    stored = registry.register(config.model_copy(update={"versions": [*versions, spec]}))
    logger.info("version registered", model=model, version=version, pending=effective_from is None)
    return {
        "model": stored.name,
        "version": version,
        "reference": spec.reference,
        "reference_rows": checked.rows if checked is not None else None,
        "reference_warnings": list(checked.warnings) if checked is not None else [],
        "from": iso(to_utc(effective_from)) if effective_from is not None else None,
        "versions": [v.name for v in stored.versions or []],
    }


def activate_pending_versions(registry: Registry, endpoint: str, at: datetime) -> list[dict[str, str]]:
    """Take live at `at` the pending version of every model watching `endpoint` (just back in service after an
    update); [] when no model has one."""
    at = to_utc(at)
    activated: list[dict[str, str]] = []
    # One tagged listing, configs parsed once per tag (an unreadable one is logged and hides no other model).
    for config in registry.models():
        name, pending = config.name, config.pending_version
        if config.endpoint != endpoint or pending is None:
            continue
        last = config.version_spans()[-1].start
        if last is not None and at <= last:
            logger.warning("endpoint update before the last version's switch; ignored", model=name, at=iso(at))
            continue
        versions = [*(config.versions or [])[:-1], pending.model_copy(update={"effective_from": at})]
        registry.register(config.model_copy(update={"versions": versions}))
        logger.info("version live", model=name, version=pending.name, at=iso(at))
        activated.append({"model": name, "version": pending.name, "from": iso(at)})
    return activated
