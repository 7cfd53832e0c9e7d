"""Settings read once per process from the environment and ``.env`` (environment wins)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from artifactstore.domain.retention import RetentionClass, parse_retention_classes
from artifactstore.domain.routes import BackendRoutes
from artifactstore.domain.signing_keys import SigningKeyRef, parse_signing_keys

_CONFIG = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

# Seconds a verifier record that failed transiently stays invisible, by its receive count.
DEFAULT_VERIFIER_RETRY_DELAYS: tuple[int, ...] = (10, 20, 30)


class ClientSettings(BaseSettings):
    """What the CLI and the seed scripts need to reach the API and State Hub."""

    model_config = _CONFIG

    api_url: str = Field("http://127.0.0.1:8000", alias="ARTIFACTSTORE_API_URL")
    api_token: SecretStr | None = Field(None, alias="ARTIFACTSTORE_API_TOKEN")
    state_hub_url: str | None = Field(None, alias="STATE_HUB_URL")
    state_hub_workstream_id: str | None = Field(None, alias="STATE_HUB_WORKSTREAM_ID")
    state_hub_task_id: str | None = Field(None, alias="STATE_HUB_TASK_ID")
    client_retries: int = Field(5, ge=0, le=20, alias="ARTIFACTSTORE_CLIENT_RETRIES")
    client_timeout: float = Field(60.0, gt=0, le=3600, alias="ARTIFACTSTORE_CLIENT_TIMEOUT")
    # Files smaller than this travel in bundles (many blobs, one upload); 0 sends each alone.
    bundle_below: int = Field(262_144, ge=0, le=1_048_577, alias="ARTIFACTSTORE_BUNDLE_BELOW")
    files_per_request: int = Field(20_000, ge=1, le=50_000, alias="ARTIFACTSTORE_FILES_PER_REQUEST")
    # PEM public keys whose attestations are trusted: files, os.pathsep-separated (each may
    # hold several keys). Set, `download` and `verify --package` check the attestation too.
    trusted_keys: str | None = Field(None, alias="ARTIFACTSTORE_TRUSTED_KEYS")


class ServiceSettings(BaseSettings):
    """What the API, the verifier and the linker need: tables, buckets, routes, policies."""

    model_config = _CONFIG

    public_api_url: str = Field("http://127.0.0.1:8000", alias="ARTIFACTSTORE_API_URL")
    api_token: SecretStr | None = Field(None, alias="ARTIFACTSTORE_API_TOKEN")
    api_token_parameter: str | None = Field(None, alias="ARTIFACTSTORE_API_TOKEN_PARAMETER")
    # How long a warm process trusts its copy of that parameter: a rotation takes this long.
    api_token_cache_seconds: int = Field(
        60, ge=0, le=3600, alias="ARTIFACTSTORE_API_TOKEN_CACHE_SECONDS"
    )
    storage_backend_routes: str = Field("*:*=local", alias="ARTIFACTSTORE_STORAGE_BACKEND_ROUTES")
    retention_classes_json: str | None = Field(None, alias="ARTIFACTSTORE_RETENTION_CLASSES")
    table_name: str = Field("artifactstore-catalog", alias="ARTIFACTSTORE_TABLE_NAME")
    bucket: str | None = Field(None, alias="ARTIFACTSTORE_BUCKET")
    local_storage_dir: Path = Field(
        Path(".localdev/storage"), alias="ARTIFACTSTORE_LOCAL_STORAGE_DIR"
    )
    # Signs the local backend's storage URLs. Required (32+ bytes, not the example key) when a
    # route names `local`, except under local development: `make dev`, `make demo` and the
    # tests set ARTIFACTSTORE_LOCAL_DEV=1 (see adapters/local/signing.py).
    local_signing_key: SecretStr | None = Field(None, alias="ARTIFACTSTORE_LOCAL_SIGNING_KEY")
    local_dev: bool = Field(False, alias="ARTIFACTSTORE_LOCAL_DEV")
    event_bus_name: str = Field("artifactstore", alias="ARTIFACTSTORE_EVENT_BUS_NAME")
    idempotency_table_name: str = Field(
        "artifactstore-idempotency", alias="ARTIFACTSTORE_IDEMPOTENCY_TABLE_NAME"
    )
    upload_url_ttl_seconds: int = Field(
        900, ge=60, le=7 * 86400, alias="ARTIFACTSTORE_UPLOAD_URL_TTL"
    )
    draft_ttl_hours: int = Field(72, ge=1, alias="ARTIFACTSTORE_DRAFT_TTL_HOURS")
    multipart_threshold: int = Field(
        64 * 1024**2, ge=5 * 1024**2, alias="ARTIFACTSTORE_MULTIPART_THRESHOLD"
    )
    local_notify_queue_url: str | None = Field(None, alias="ARTIFACTSTORE_LOCAL_NOTIFY_QUEUE_URL")
    state_hub_url: str | None = Field(None, alias="STATE_HUB_URL")
    state_hub_workstream_id: str | None = Field(None, alias="STATE_HUB_WORKSTREAM_ID")
    state_hub_task_id: str | None = Field(None, alias="STATE_HUB_TASK_ID")
    aws_region: str = Field("us-east-1", alias="AWS_REGION")
    # Signed seals (docs/attestations.md): the KMS key that signs now, and every key whose
    # public key /signing-keys lists (current first; a retired one as `KEY@<ISO time>`).
    signing_key_id: str | None = Field(None, alias="ARTIFACTSTORE_SIGNING_KEY_ID")
    signing_key_ids: str | None = Field(None, alias="ARTIFACTSTORE_SIGNING_KEY_IDS")
    # Seconds the verifier keeps a record that failed transiently invisible, by its receive
    # count (1, 2, 3; a JSON list); later failures keep the queue's visibility timeout. At
    # most three: the upload queue's maxReceiveCount (5) leaves a long wait before the DLQ.
    verifier_retry_delays: tuple[Annotated[int, Field(strict=True, ge=1, le=900)], ...] = Field(
        DEFAULT_VERIFIER_RETRY_DELAYS,
        min_length=1,
        max_length=3,
        alias="ARTIFACTSTORE_VERIFIER_RETRY_DELAYS",
    )

    def routes(self) -> BackendRoutes:
        """Parsed storage routes (raises ``ConfigurationError`` naming a bad rule)."""
        return BackendRoutes.parse(self.storage_backend_routes)

    def retention_classes(self) -> dict[str, RetentionClass]:
        """Configured retention classes."""
        return parse_retention_classes(self.retention_classes_json)

    def signing_keys(self) -> tuple[SigningKeyRef, ...]:
        """The configured signing keys, current first (none: attestations are not signed)."""
        return parse_signing_keys(self.signing_key_id, self.signing_key_ids)


@lru_cache(maxsize=1)
def service_settings() -> ServiceSettings:
    """The process's service settings, read once."""
    return ServiceSettings()
