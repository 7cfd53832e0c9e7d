"""Storage backend routes: ``producer:retention_class=backend`` rules, first match wins."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from artifactstore.errors import ConfigurationError, InvalidInput

KNOWN_BACKENDS = frozenset({"s3", "local"})
_RULE_RE = re.compile(r"(?P<producer>[^:=\s]+):(?P<retention>[^:=\s]+)=(?P<backend>[^:=\s]+)")


@dataclass(frozen=True, slots=True)
class Route:
    """One rule; ``*`` matches anything."""

    producer: str
    retention_class: str
    backend: str

    def matches(self, producer: str, retention_class: str) -> bool:
        """Whether this rule applies to the package."""
        return self.producer in ("*", producer) and self.retention_class in ("*", retention_class)


@dataclass(frozen=True, slots=True)
class BackendRoutes:
    """An ordered list of routes."""

    rules: tuple[Route, ...]

    @classmethod
    def parse(cls, text: str, backends: Collection[str] = KNOWN_BACKENDS) -> BackendRoutes:
        """Parse the setting; a malformed rule or unknown backend fails naming the rule."""
        rules = []
        for raw in text.split(","):
            rule = raw.strip()
            match = _RULE_RE.fullmatch(rule)
            if not match:
                raise ConfigurationError(
                    f"ARTIFACTSTORE_STORAGE_BACKEND_ROUTES: malformed rule {rule!r} "
                    "(expected producer:retention_class=backend, '*' for any)"
                )
            if match["backend"] not in backends:
                raise ConfigurationError(
                    f"ARTIFACTSTORE_STORAGE_BACKEND_ROUTES: rule {rule!r} names unknown backend "
                    f"{match['backend']!r} (known: {', '.join(sorted(backends))})"
                )
            rules.append(Route(match["producer"], match["retention"], match["backend"]))
        return cls(tuple(rules))

    def resolve(self, producer: str, retention_class: str) -> str:
        """The backend of the first matching rule, or ``no_storage_route``."""
        for rule in self.rules:
            if rule.matches(producer, retention_class):
                return rule.backend
        raise InvalidInput(
            f"no storage route for producer {producer!r} and retention class "
            f"{retention_class!r}; add one to ARTIFACTSTORE_STORAGE_BACKEND_ROUTES",
            code="no_storage_route",
        )

    @property
    def backends(self) -> frozenset[str]:
        """Every backend some rule names."""
        return frozenset(r.backend for r in self.rules)
