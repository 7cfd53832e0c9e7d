"""API Lambda: the FastAPI app behind API Gateway (HTTP API v2) through Mangum."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from artifactstore.adapters.tracing import Tracer
from artifactstore.api.app import create_app

logger = Logger(service="artifactstore")
tracer = Tracer(service="artifactstore")
metrics = Metrics(namespace="artifactstore", service="artifactstore")
# lifespan off: Mangum would run it on every invocation; adapters are built lazily instead.
asgi = Mangum(create_app(), lifespan="off", api_gateway_base_path="/")


@logger.inject_lambda_context(clear_state=True, log_event=False)  # events carry bearer tokens
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Serve one API Gateway request."""
    response: dict[str, Any] = asgi(event, context)  # type: ignore[arg-type]
    return response
