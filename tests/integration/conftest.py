"""Integration fixtures: the template's resources provisioned into moto over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from localdev.provision import provision
from localdev.stack import LocalStack

from artifactstore.adapters.s3.storage import S3Storage
from artifactstore.service.context import Services
from artifactstore.service.factory import services
from artifactstore.settings import service_settings
from tests.integration.s3_calls import S3Calls

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    """Every provisionable resource of template.yaml, created in the moto server."""
    return provision(moto_server, ROOT / "template.yaml", root=tmp_path_factory.mktemp("stack"))


@pytest.fixture(scope="session")
def big_stack(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    """The same template provisioned a second time (stage ``big``: its own table, bucket and
    queues) in the same moto server, for tests that leave drafts with thousands of pending
    uploads behind.

    A maintenance round expires every draft past its TTL and deletes each pending upload of
    each (a HEAD per blob): on ``stack``, the tests that run rounds a few days ahead would
    otherwise walk those drafts too, 30 s after a 10,000-file draft, whichever test came next.
    """
    return provision(
        moto_server,
        ROOT / "template.yaml",
        root=tmp_path_factory.mktemp("big-stack"),
        overrides={"Stage": "big"},
    )


@dataclass
class Configured:
    """Services built from the environment a test set, plus that environment."""

    svc: Services
    env: dict[str, str]
    storage_dir: Path
    stack: LocalStack


def configure(stack: LocalStack, storage_dir: Path, routes: str, **extra: str) -> Configured:
    """Point the process's settings at the stack and rebuild the cached services."""
    env = {
        "ARTIFACTSTORE_TABLE_NAME": stack.table,
        "ARTIFACTSTORE_BUCKET": stack.bucket,
        "ARTIFACTSTORE_EVENT_BUS_NAME": stack.event_bus,
        "ARTIFACTSTORE_IDEMPOTENCY_TABLE_NAME": stack.idempotency_table,
        "ARTIFACTSTORE_STORAGE_BACKEND_ROUTES": routes,
        "ARTIFACTSTORE_LOCAL_STORAGE_DIR": str(storage_dir),
        "ARTIFACTSTORE_LOCAL_NOTIFY_QUEUE_URL": stack.object_created_queue_url,
        "ARTIFACTSTORE_API_TOKEN": "test-admin-token",
        "ARTIFACTSTORE_MULTIPART_THRESHOLD": str(5 * 1024 * 1024),
        "ARTIFACTSTORE_LOCAL_DEV": "1",  # the test stack: the local backend's example key will do
        **extra,
    }
    os.environ.update(env)
    service_settings.cache_clear()
    services.cache_clear()
    from artifactstore.api import auth

    auth._configured_token_hash.cache_clear()
    return Configured(services(), env, storage_dir, stack)


@pytest.fixture(params=["s3", "local"])
def configured(
    request: pytest.FixtureRequest, stack: LocalStack, tmp_path: Path
) -> Iterator[Configured]:
    """Services for one backend (parametrized over both)."""
    with configured_for(stack, tmp_path / "storage", f"*:*={request.param}") as cfg:
        yield cfg


@contextmanager
def configured_for(
    stack: LocalStack, storage_dir: Path, routes: str, **extra: str
) -> Iterator[Configured]:
    """``configure``, then the process's environment and cached services as they were."""
    saved = dict(os.environ)
    try:
        yield configure(stack, storage_dir, routes, **extra)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        service_settings.cache_clear()
        services.cache_clear()


# -- the S3 route: every package on S3, and the requests the adapter sends -----------------


@pytest.fixture
def cfg(stack: LocalStack, tmp_path: Path) -> Iterator[Configured]:
    """Services with every package routed to S3 (``*:*=s3``)."""
    with configured_for(stack, tmp_path / "storage", "*:*=s3") as configured:
        yield configured


@pytest.fixture
def calls(cfg: Configured) -> Iterator[S3Calls]:
    """A recorder of the S3 operations the configured S3 backend sends."""
    recorder = S3Calls(cast(S3Storage, cfg.svc.storage("s3")))
    yield recorder
    recorder.close()


@pytest.fixture
def s3(cfg: Configured) -> S3Client:
    """A plain S3 client on the same moto server, to look at what was stored."""
    import boto3

    return boto3.session.Session().client("s3")
