"""Powertools' Tracer, minus the X-Ray SDK import when tracing is off, patching only botocore.

Powertools builds its X-Ray provider even when tracing is disabled (``POWERTOOLS_TRACE_DISABLED``,
outside Lambda, under ``sam local``): importing ``aws_xray_sdk.core`` costs 50-200 ms of every
cold start. Its documented ``provider`` parameter takes any ``BaseProvider``, so a disabled tracer
gets a no-op one instead. With tracing on, Powertools' default ``patch_all`` imports every library
X-Ray can patch that is installed (httpx among them, ~60 ms); the handlers patch only what they
call: botocore (pynamodb, boto3 and S3 go through it), and the linker adds httpx (State Hub).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Tracer as PowertoolsTracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

if TYPE_CHECKING:
    import numbers
    import traceback

PATCH_MODULES: tuple[str, ...] = ("botocore",)


class _NoSegment(BaseSegment):
    """The segment a disabled tracer hands out: records nothing."""

    def close(self, end_time: int | None = None) -> None:
        """Nothing to close."""

    def add_subsegment(self, subsegment: Any) -> None:
        """Nothing to add."""

    def remove_subsegment(self, subsegment: Any) -> None:
        """Nothing to remove."""

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        """Dropped."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Dropped."""

    def add_exception(
        self, exception: BaseException, stack: list[traceback.StackSummary], remote: bool = False
    ) -> None:
        """Dropped."""


class NoTracing(BaseProvider):
    """A provider that traces nothing and imports nothing (tracing is off)."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment]:
        """A segment that records nothing."""
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(
        self, name: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[BaseSegment]:
        """A segment that records nothing."""
        yield _NoSegment()

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        """Dropped."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Dropped."""

    def patch(self, modules: Sequence[str]) -> None:
        """Nothing to patch."""

    def patch_all(self) -> None:
        """Nothing to patch."""


class Tracer(PowertoolsTracer):
    """Powertools' ``Tracer`` (same decorators, same environment variables), lighter to import."""

    def __init__(
        self,
        service: str | None = None,
        disabled: bool | None = None,
        auto_patch: bool | None = None,
        patch_modules: Sequence[str] | None = PATCH_MODULES,
        provider: BaseProvider | None = None,
    ) -> None:
        """As Powertools' ``Tracer``; a disabled one gets ``NoTracing`` unless given a provider."""
        off = disabled if disabled is not None else bool(self._is_tracer_disabled())
        if provider is None and off:
            provider = NoTracing()
        super().__init__(
            service=service,
            disabled=disabled,
            auto_patch=auto_patch,
            patch_modules=patch_modules,
            provider=provider,
        )
