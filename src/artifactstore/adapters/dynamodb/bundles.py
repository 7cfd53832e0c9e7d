"""Bundles in the catalog: which blobs, in which order, one bundle upload carries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from pynamodb.exceptions import DoesNotExist

from artifactstore.adapters.dynamodb.models import draft_ttl, item_key
from artifactstore.adapters.dynamodb.support import CatalogTable

BUNDLE_PREFIX = "BUNDLE#"


class BundleStore(CatalogTable):
    """``sk=BUNDLE#<bundle id>`` items of a package."""

    def put_bundle(
        self,
        package_id: str,
        bundle_id: str,
        members: Sequence[tuple[str, int]],
        draft_expires_at: datetime | None = None,
    ) -> None:
        """Record a bundle's members (hex, size) in order; the same bundle again is harmless.

        The item carries its draft's TTL and keeps it after sealing, like the blob buckets:
        only the verifier reads it, and no message outlives SQS's 14 days.
        """
        self.models.BundleModel(
            item_key("PKG", package_id),
            BUNDLE_PREFIX + bundle_id,
            members=json.dumps([[h, n] for h, n in members], separators=(",", ":")),
            ttl=draft_ttl(draft_expires_at) if draft_expires_at else None,
        ).save()

    def get_bundle(self, package_id: str, bundle_id: str) -> list[tuple[str, int]] | None:
        """The bundle's members (hex, size) in byte order, or None when it was never asked for."""
        try:
            item = self.models.BundleModel.get(
                item_key("PKG", package_id), BUNDLE_PREFIX + bundle_id, consistent_read=True
            )
        except DoesNotExist:
            return None
        return [(str(h), int(n)) for h, n in json.loads(item.members)]
