"""A create that loses its key takes the winner from DynamoDB's answer, never from a re-read.

The claim is written with ``ReturnValuesOnConditionCheckFailure: ALL_OLD``: the cancelled
transaction carries the claim that won, so ``KeyTaken`` names it without a second request (a
re-read could also see a later owner of the key than the one that beat this request).
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from artifactstore.errors import NotFound
from artifactstore.ports.catalog import KeyTaken
from tests.integration.conftest import Configured
from tests.integration.dynamodb_calls import DynamoCalls, catalog_client
from tests.integration.flow import Harness

pytestmark = pytest.mark.integration


@pytest.fixture
def cfg(configured: Configured) -> Configured:
    return configured


def test_a_lost_create_names_the_winner_from_the_cancellation(cfg: Configured) -> None:
    h = Harness.start(cfg)
    first = h.create(str(uuid.uuid4()), {"a": f"{uuid.uuid4()}".encode()})
    assert first.status_code == 201, first.text
    winner = cfg.svc.catalog.get_package(first.json()["package_id"])
    loser = replace(winner, package_id=str(uuid.uuid4()), fingerprint="blake3:" + "0" * 64)

    calls = DynamoCalls(catalog_client(cfg.svc.catalog))
    try:
        with pytest.raises(KeyTaken) as taken:
            cfg.svc.catalog.create_package(loser)
    finally:
        calls.close()

    assert (taken.value.package_id, taken.value.fingerprint) == (
        winner.package_id,
        winner.fingerprint,
    )
    assert [c.operation for c in calls.calls] == ["TransactWriteItems"]
    claim_put = calls.calls[0].body["TransactItems"][0]["Put"]
    assert claim_put["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    # Nothing of the loser was stored.
    with pytest.raises(NotFound) as missing:
        cfg.svc.catalog.get_package(loser.package_id)
    assert missing.value.code == "package_not_found"
