"""Maintenance Lambda (scheduled): expire stale drafts, re-publish unconfirmed seal events."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from artifactstore.service.factory import services
from artifactstore.service.sealing import run_maintenance

logger = Logger(service="artifactstore")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """One maintenance round."""
    result = run_maintenance(services())
    logger.info("maintenance", extra=result)
    return result
