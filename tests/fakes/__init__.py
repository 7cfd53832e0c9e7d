"""In-memory fakes of the ports (catalog, storage, events), type-checked against them, and
``Services`` built on them. ``tests/contract`` holds the catalog fake to the DynamoDB adapter."""

from tests.fakes.catalog import InMemoryCatalog
from tests.fakes.events import Published, RecordingPublisher
from tests.fakes.services import FakeClock, Fakes, fake_services
from tests.fakes.storage import InMemoryStorage

__all__ = [
    "FakeClock",
    "Fakes",
    "InMemoryCatalog",
    "InMemoryStorage",
    "Published",
    "RecordingPublisher",
    "fake_services",
]
