"""Who may act on a package: checked once, in the service, on the record it then uses."""

from __future__ import annotations

from artifactstore.domain.packages import PackageRecord
from artifactstore.domain.tokens import Caller
from artifactstore.service.context import Services


def owned_package(svc: Services, caller: Caller, package_id: str) -> PackageRecord:
    """The package, when ``caller`` covers its producer (``forbidden`` otherwise)."""
    record = svc.catalog.get_package(package_id)
    caller.require_producer(record.producer)
    return record
