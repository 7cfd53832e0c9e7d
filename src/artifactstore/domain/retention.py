"""Retention classes: policy, not content. Configured, never hard-wired into packages."""

from __future__ import annotations

import json
from collections.abc import Mapping
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


_RULE_KEYS = frozenset({"lock_mode", "lock_days", "expire_days"})
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
    return {name: _retention_class(name, rules) for name, rules in raw.items()}


def _retention_class(name: str, rules: object) -> RetentionClass:
    if not isinstance(rules, dict):
        raise ConfigurationError(f"retention class {name!r}: rules must be an object")
    unknown = set(rules) - _RULE_KEYS
    if unknown:
        raise ConfigurationError(f"retention class {name!r}: unknown rule(s) {sorted(unknown)}")
    lock_mode = rules.get("lock_mode")
    if lock_mode not in (None, "GOVERNANCE", "COMPLIANCE"):
        raise ConfigurationError(f"retention class {name!r}: unknown lock_mode {lock_mode!r}")
    lock_days = _days(name, "lock_days", rules.get("lock_days"))
    if (lock_mode is None) != (lock_days is None):
        # S3 Object Lock needs both a mode and a period; one without the other is a typo.
        raise ConfigurationError(f"retention class {name!r}: lock_mode and lock_days go together")
    expire_days = _days(name, "expire_days", rules.get("expire_days"))
    return RetentionClass(name, lock_mode, lock_days, expire_days)


def _days(name: str, key: str, value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(f"retention class {name!r}: {key} must be a positive integer")
    return value


def resolve_retention_class(classes: Mapping[str, RetentionClass], name: object) -> RetentionClass:
    """The named class, or ``unknown_retention_class`` (a 422)."""
    if not isinstance(name, str) or name not in classes:
        raise InvalidInput(
            f"unknown retention class {name!r} (known: {', '.join(sorted(classes))})",
            code="unknown_retention_class",
        )
    return classes[name]
