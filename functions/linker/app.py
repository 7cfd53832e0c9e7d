"""Linker Lambda: ArtifactPackageSealed (EventBridge) → one State Hub artifact_link, once, and
the package's signed attestation (docs/attestations.md), once."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from artifactstore.adapters.tracing import PATCH_MODULES, Tracer
from artifactstore.service.attestations import attest_package
from artifactstore.service.factory import services
from artifactstore.service.linking import link_package
from artifactstore.settings import service_settings

logger = Logger(service="artifactstore")
tracer = Tracer(service="artifactstore", patch_modules=(*PATCH_MODULES, "httpx"))  # State Hub
IDEMPOTENCY = IdempotencyConfig(expires_after_seconds=30 * 86400)


@lru_cache(maxsize=1)
def linker() -> Callable[..., dict[str, Any]]:
    """The idempotent link function (its persistence layer is built on first use)."""
    store = DynamoDBPersistenceLayer(table_name=service_settings().idempotency_table_name)

    def link(package: dict[str, str]) -> dict[str, Any]:
        return link_package(services(), package["package_id"])

    wrapped: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="package", persistence_store=store, config=IDEMPOTENCY
    )(link)
    return wrapped


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """Link the sealed package named in the event's detail, then attest it.

    Each step runs even when the other fails, and the first failure is raised so that the
    event is retried: the link is idempotent (a retry answers the recorded link, State Hub is
    not posted to twice) and so is the attestation (one stored, write-once), so a KMS outage
    delays only the attestation and a State Hub outage only the link.
    """
    IDEMPOTENCY.register_lambda_context(context)
    package_id = str(event.detail["package_id"])
    logger.append_keys(package_id=package_id)
    failures: list[Exception] = []
    link: dict[str, Any] = {}
    try:
        link = linker()(package={"package_id": package_id})
    except Exception as exc:
        failures.append(exc)
    try:
        attest_package(services(), package_id)
    except Exception as exc:
        logger.exception("attestation failed: the event will be retried")
        failures.append(exc)
    if failures:
        raise failures[0]
    return link
