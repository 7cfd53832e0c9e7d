"""Builds the process's ``Services`` from settings, lazily and once."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from artifactstore.ports.signing import Signer
from artifactstore.service.context import Services
from artifactstore.settings import ServiceSettings, service_settings


def build_services(settings: ServiceSettings) -> Services:
    """Wire adapters to settings; nothing connects until first used."""
    from artifactstore.adapters.dynamodb.catalog import DynamoCatalog
    from artifactstore.adapters.eventbridge import EventBridgePublisher
    from artifactstore.adapters.statehub import HttpStateHub
    from artifactstore.adapters.storage_factory import build_storages

    notify = None
    if settings.local_notify_queue_url:
        from artifactstore.adapters.local.notify import SqsObjectCreatedNotifier

        notify = SqsObjectCreatedNotifier(settings.local_notify_queue_url)
    return Services(
        catalog=DynamoCatalog(settings.table_name, settings.aws_region),
        storages=build_storages(settings, notify=notify),
        publisher=EventBridgePublisher(settings.event_bus_name),
        routes=settings.routes(),
        retention_classes=settings.retention_classes(),
        public_api_url=settings.public_api_url,
        draft_ttl=timedelta(hours=settings.draft_ttl_hours),
        state_hub=HttpStateHub(settings.state_hub_url) if settings.state_hub_url else None,
        default_state_hub_ids=(settings.state_hub_workstream_id, settings.state_hub_task_id),
        signer=_signer(settings),
    )


def _signer(settings: ServiceSettings) -> Signer | None:
    """The KMS signer when signing keys are configured (docs/attestations.md)."""
    keys = settings.signing_keys()
    if not keys:
        return None
    from artifactstore.adapters.kms import KmsSigner

    return KmsSigner(keys)


@lru_cache(maxsize=1)
def services() -> Services:
    """The process-wide services (built on first call, never at import time)."""
    return build_services(service_settings())
