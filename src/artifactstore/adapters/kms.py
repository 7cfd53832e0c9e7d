"""AWS KMS signer: ECDSA P-256 / SHA-256 with an asymmetric key that never leaves KMS.

``sign`` needs ``kms:Sign`` on the current key and ``kms:GetPublicKey`` (its keyid is the
SHA-256 of its public key); ``public_keys`` needs ``kms:GetPublicKey`` and ``kms:DescribeKey``
(a key's ``not_before`` is its KMS creation date) on every listed key. Public keys never change
for a key id, so each is read once per process.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from artifactstore.domain.signing_keys import PublicKeyInfo, SigningKeyRef
from artifactstore.errors import ConfigurationError, DependencyUnavailable, InvalidInput
from artifactstore.ports.signing import Signature

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

    from artifactstore.domain.attestation import TrustedKey

SIGNING_ALGORITHM: Final = "ECDSA_SHA_256"
RAW_MESSAGE_LIMIT = 4096  # KMS signs RAW messages up to 4 KiB; longer ones go as their digest


class KmsSigner:
    """Signs with ``keys[0]`` (the current key); lists the public keys of all ``keys``."""

    def __init__(self, keys: Sequence[SigningKeyRef], client: KMSClient | None = None) -> None:
        if not keys:
            raise ValueError("KmsSigner needs at least one key")
        self.keys = tuple(keys)
        self._client = client
        self._lock = threading.Lock()
        self._public: dict[str, TrustedKey] = {}
        self._created: dict[str, datetime | None] = {}

    @property
    def client(self) -> KMSClient:
        """The KMS client (built on first use; botocore reads ``AWS_ENDPOINT_URL``)."""
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.session.Session().client("kms")
            return self._client

    @property
    def current(self) -> str:
        """The key that signs."""
        return self.keys[0].key_id

    def sign(self, message: bytes) -> Signature:
        """Sign ``message`` with the current key (a DER ECDSA signature)."""
        args: dict[str, Any] = {"Message": message, "MessageType": "RAW"}
        if len(message) > RAW_MESSAGE_LIMIT:
            # ECDSA_SHA_256 over a DIGEST is the same signature as over the RAW message.
            args = {"Message": hashlib.sha256(message).digest(), "MessageType": "DIGEST"}
        keyid = self._public_key(self.current).keyid
        with _kms_errors(self.current, "Sign"):
            answer = self.client.sign(
                KeyId=self.current, SigningAlgorithm=SIGNING_ALGORITHM, **args
            )
        return Signature(keyid, answer["Signature"])

    def public_keys(self) -> list[PublicKeyInfo]:
        """Every listed key, current first: keyid, PEM, creation date, retirement date."""
        listed = []
        for ref in self.keys:
            key = self._public_key(ref.key_id)
            listed.append(
                PublicKeyInfo(key.keyid, key.pem, self._creation(ref.key_id), ref.not_after)
            )
        return listed

    def _public_key(self, key_id: str) -> TrustedKey:
        # cryptography is imported when a key is first read, not at every cold start
        from artifactstore.domain.attestation import trusted_key_from_der

        if key_id not in self._public:
            with _kms_errors(key_id, "GetPublicKey"):
                answer = self.client.get_public_key(KeyId=key_id)
            try:
                self._public[key_id] = trusted_key_from_der(
                    answer["PublicKey"], f"KMS key {key_id}"
                )
            except InvalidInput as exc:
                raise ConfigurationError(
                    f"{exc.message}: create it with KeySpec ECC_NIST_P256"
                ) from exc
        return self._public[key_id]

    def _creation(self, key_id: str) -> datetime | None:
        if key_id not in self._created:
            with _kms_errors(key_id, "DescribeKey"):
                meta = self.client.describe_key(KeyId=key_id)["KeyMetadata"]
            self._created[key_id] = meta.get("CreationDate")
        return self._created[key_id]


@contextmanager
def _kms_errors(key_id: str, operation: str) -> Iterator[None]:
    """Turn KMS failures (an outage, a missing or disabled key) into ``signing_unavailable``."""
    try:
        yield
    except ClientError as exc:
        raise _unavailable(
            key_id, operation, str(exc.response.get("Error", {}).get("Code"))
        ) from exc
    except BotoCoreError as exc:
        raise _unavailable(key_id, operation, type(exc).__name__) from exc


def _unavailable(key_id: str, operation: str, code: str) -> DependencyUnavailable:
    return DependencyUnavailable(
        f"KMS {operation} with key {key_id} failed ({code}): the attestation waits; retry",
        code="signing_unavailable",
        details={"key_id": key_id, "kms_error_code": code},
    )
