"""The provisioned local stack, as written to ``.localdev/stack.json`` and read by the pump."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

# Logical ids of the resources the service itself is configured with (template.yaml's names).
BUCKET_ID = "ArtifactsBucket"
TABLE_ID = "CatalogTable"
IDEMPOTENCY_TABLE_ID = "IdempotencyTable"
EVENT_BUS_ID = "EventBus"
OBJECT_CREATED_QUEUE_ID = "ObjectCreatedQueue"
LINKER_FUNCTION_ID = "LinkerFunction"
SIGNING_KEY_ID = "SigningKey"


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function our own processes play: where its handler is and its limits."""

    logical_id: str
    name: str
    handler_file: str
    handler: str
    timeout: int
    memory: int


@dataclass(frozen=True)
class Subscription:
    """A queue the pump drains into a function.

    ``sqs``: an event source mapping (SQS batch events). ``eventbridge``: the local queue that
    stands in for a rule's Lambda target (each message body is one EventBridge envelope).
    """

    kind: Literal["sqs", "eventbridge"]
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int = 1
    report_batch_item_failures: bool = False
    rule_arn: str | None = None
    max_attempts: int | None = None
    dead_letter_queue_url: str | None = None


@dataclass(frozen=True)
class Schedule:
    """A scheduled rule whose target is a function (moto never fires schedules: the pump does)."""

    function: str
    rule_name: str
    rule_arn: str
    expression: str
    target_queue_url: str


@dataclass
class LocalStack:
    """Physical names of everything provisioned, keyed by the template's logical ids."""

    endpoint: str
    region: str
    stack_name: str
    names: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    subscriptions: list[Subscription] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def bucket(self) -> str:
        """The artifacts bucket."""
        return self._name(BUCKET_ID)

    @property
    def table(self) -> str:
        """The catalog table."""
        return self._name(TABLE_ID)

    @property
    def idempotency_table(self) -> str:
        """The Powertools idempotency table."""
        return self._name(IDEMPOTENCY_TABLE_ID)

    @property
    def event_bus(self) -> str:
        """The EventBridge bus sealing events go to."""
        return self._name(EVENT_BUS_ID)

    @property
    def signing_key(self) -> str:
        """The KMS key id that signs seal attestations."""
        return self._name(SIGNING_KEY_ID)

    @property
    def object_created_queue_url(self) -> str:
        """The queue S3 ObjectCreated notifications land in."""
        return self.queue_urls[OBJECT_CREATED_QUEUE_ID]

    @property
    def linker_queue_url(self) -> str:
        """The local queue standing in for the linker function as the sealed rule's target."""
        for sub in self.subscriptions:
            if sub.kind == "eventbridge" and sub.function == LINKER_FUNCTION_ID:
                return sub.queue_url
        raise KeyError(f"no EventBridge rule targets {LINKER_FUNCTION_ID} in template.yaml")

    def _name(self, logical_id: str) -> str:
        if logical_id not in self.names:
            raise KeyError(f"template.yaml declares no provisioned resource {logical_id!r}")
        return self.names[logical_id]

    def service_environment(self) -> dict[str, str]:
        """Variables our processes need to find these resources (template-derived ones win)."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        named = {
            "ARTIFACTSTORE_BUCKET": BUCKET_ID,
            "ARTIFACTSTORE_TABLE_NAME": TABLE_ID,
            "ARTIFACTSTORE_IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE_ID,
            "ARTIFACTSTORE_EVENT_BUS_NAME": EVENT_BUS_ID,
        }
        env.update({var: self.names[lid] for var, lid in named.items() if lid in self.names})
        if OBJECT_CREATED_QUEUE_ID in self.queue_urls:
            env["ARTIFACTSTORE_LOCAL_NOTIFY_QUEUE_URL"] = self.object_created_queue_url
        env.update(self.environment)
        return env

    def to_json(self) -> dict[str, Any]:
        """The ``stack.json`` form (with the named resources spelled out for people)."""
        body = asdict(self)
        for name in ("bucket", "table", "idempotency_table", "event_bus"):
            try:
                body[name] = getattr(self, name)
            except KeyError:
                body[name] = None
        for name in ("object_created_queue_url", "linker_queue_url"):
            try:
                body[name] = getattr(self, name)
            except KeyError:
                body[name] = None
        return body

    def write(self, path: Path) -> None:
        """Write ``stack.json`` atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> LocalStack:
        """Load a ``stack.json`` written by :meth:`write`."""
        body = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            endpoint=body["endpoint"],
            region=body["region"],
            stack_name=body["stack_name"],
            names=body["names"],
            arns=body["arns"],
            queue_urls=body["queue_urls"],
            functions={k: FunctionSpec(**v) for k, v in body["functions"].items()},
            subscriptions=[Subscription(**s) for s in body["subscriptions"]],
            schedules=[Schedule(**s) for s in body["schedules"]],
            environment=body["environment"],
        )
