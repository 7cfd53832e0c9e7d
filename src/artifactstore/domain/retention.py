"""Retention classes: policy, not content. Configured, never hard-wired into packages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from artifactstore.errors import ConfigurationError, InvalidInput

LockMode = Literal["GOVERNANCE", "COMPLIANCE"]


@dataclass(frozen=True, slots=True)
class RetentionClass:
    """How long blobs of a class are kept, and whether storage locks them."""

    name: str
    lock_mode: LockMode | None = None
    lock_days: int | None = None
    expire_days: int | None = None


DEFAULT_CLASSES = {
    "release-evidence": {"lock_mode": "GOVERNANCE", "lock_days": 3650},
    "ephemeral": {"expire_days": 14},
}


def parse_retention_classes(text: str | None) -> dict[str, RetentionClass]:
    """Parse ``{"name": {"lock_mode":..., "lock_days":..., "expire_days":...}}`` JSON."""
    try:
        raw = json.loads(text) if text else DEFAULT_CLASSES
    except ValueError as exc:
        raise ConfigurationError(f"ARTIFACTSTORE_RETENTION_CLASSES is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or not raw:
        raise ConfigurationError("ARTIFACTSTORE_RETENTION_CLASSES must be a non-empty object")
    classes = {}
    for name, rules in raw.items():
        try:
            classes[name] = RetentionClass(name=name, **rules)
        except TypeError as exc:
            raise ConfigurationError(f"retention class {name!r}: {exc}") from exc
        if rules.get("lock_mode") not in (None, "GOVERNANCE", "COMPLIANCE"):
            raise ConfigurationError(f"retention class {name!r}: unknown lock_mode")
    return classes


def resolve_retention_class(classes: dict[str, RetentionClass], name: object) -> RetentionClass:
    """The named class, or ``unknown_retention_class`` (a 422)."""
    if not isinstance(name, str) or name not in classes:
        raise InvalidInput(
            f"unknown retention class {name!r} (known: {', '.join(sorted(classes))})",
            code="unknown_retention_class",
        )
    return classes[name]
