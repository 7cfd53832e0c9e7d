"""The event pump: drains the stack's queues into the functions' own handler modules.

Plays Lambda's pollers as the template wires them (``stack.json``):

- an SQS event source mapping: long-poll, invoke with the SQS batch event Lambda sends, delete
  what succeeded. With ``ReportBatchItemFailures`` only the records not named in
  ``batchItemFailures`` are deleted; a raised exception (or an invalid answer) fails the whole
  batch. Failed messages stay in the queue and come back after its visibility timeout, and the
  queue's redrive policy moves them to its DLQ, as in AWS.
- an EventBridge rule whose target is a function: the rule delivers to a local queue; each
  message body is the EventBridge envelope and is the invocation's event. A raised exception
  leaves it for a retry; after the target's ``RetryPolicy`` attempts it goes to the target's
  dead-letter queue.
- a schedule: every ``schedule_seconds`` a ``Scheduled Event`` envelope goes into the rule's
  target queue, and from there to the function like any rule delivery.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import signal
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, cast

import boto3

from localdev.events import rule_delivery, scheduled_event, sqs_event
from localdev.stack import FunctionSpec, LocalStack, Subscription
from localdev.template import ACCOUNT_ID

log = logging.getLogger("localdev.pump")
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The parts of Lambda's context object handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "localdev"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's configured timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(path: Path, attribute: str, module_name: str) -> Handler:
    """Import a handler module by file path, as Lambda's runtime would, and return the function."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Handler = getattr(module, attribute)
    return handler


def _failed_ids(result: Any, ids: set[str]) -> set[str] | None:
    """Failed message ids from a partial batch response; None when the answer is invalid."""
    if result is None or (isinstance(result, dict) and not result.get("batchItemFailures")):
        return set()
    try:
        failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    except (KeyError, TypeError):
        return None
    return failed if failed <= ids else None


class Pump:
    """Polls each subscription in its own thread and invokes the matching handler."""

    def __init__(
        self,
        stack: LocalStack,
        root: Path,
        *,
        handler_overrides: dict[str, Path] | None = None,
        schedule_seconds: float | None = 60.0,
        wait_seconds: int = 2,
        concurrency: int = 4,
    ) -> None:
        self.stack = stack
        # Lambda runs many verifier instances at once (the template caps it at 50); a few
        # polling threads per SQS subscription play that here.
        self._concurrency = max(1, concurrency)
        self.root = root
        self._overrides = handler_overrides or {}
        self._schedule_seconds = schedule_seconds
        self._wait = wait_seconds
        self._handlers: dict[str, Handler] = {}
        self._missing: set[str] = set()
        # one import at a time: handler modules share packages, and concurrent first imports
        # of the same package from several threads see it half-initialized
        self._import_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sqs = boto3.client(
            "sqs",
            endpoint_url=stack.endpoint,
            region_name=stack.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
        )
        scheduled = [
            Subscription(
                kind="eventbridge",
                function=s.function,
                queue_url=s.target_queue_url,
                queue_arn="",
                rule_arn=s.rule_arn,
                max_attempts=3,
            )
            for s in stack.schedules
        ]
        self.subscriptions = [*stack.subscriptions, *scheduled]

    # -- handlers --------------------------------------------------------------------------

    def _handler_path(self, spec: FunctionSpec) -> Path:
        return self._overrides.get(spec.logical_id) or self.root / spec.handler_file

    def handler(self, function: str) -> Handler | None:
        """The function's handler, loaded on first use; None while its file does not exist."""
        with self._import_lock:
            return self._load(function)

    def _load(self, function: str) -> Handler | None:
        if function in self._handlers:
            return self._handlers[function]
        spec = self.stack.functions[function]
        path = self._handler_path(spec)
        if not path.exists():
            if function not in self._missing:
                log.warning(
                    "%s: %s does not exist yet; its events wait in the queue", function, path
                )
                self._missing.add(function)
            return None
        self._handlers[function] = load_handler(path, spec.handler, f"localdev_fn_{function}")
        return self._handlers[function]

    def context(self, function: str) -> LambdaContext:
        """A fresh context for one invocation."""
        spec = self.stack.functions[function]
        arn = f"arn:aws:lambda:{self.stack.region}:{ACCOUNT_ID}:function:{spec.name}"
        return LambdaContext(spec.name, spec.memory, arn, spec.timeout)

    # -- one poll --------------------------------------------------------------------------

    def poll_once(self, sub: Subscription, wait_seconds: int | None = None) -> int:
        """Receive one batch from ``sub``'s queue and handle it; the number of messages seen."""
        try:
            handler = self.handler(sub.function)
        except Exception:
            log.exception(
                "%s: cannot import its handler; its events wait in the queue", sub.function
            )
            return 0
        if handler is None:
            return 0
        answer = self.sqs.receive_message(
            QueueUrl=sub.queue_url,
            MaxNumberOfMessages=min(sub.batch_size, 10) if sub.kind == "sqs" else 1,
            WaitTimeSeconds=self._wait if wait_seconds is None else wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = cast("list[dict[str, Any]]", answer.get("Messages") or [])
        if messages and self._stop.is_set():
            self._release(sub, messages)
            return 0
        if messages and sub.kind == "sqs":
            self._invoke_batch(sub, handler, messages)
        for message in messages if sub.kind == "eventbridge" else []:
            self._invoke_envelope(sub, handler, message)
        return len(messages)

    def _invoke_batch(
        self, sub: Subscription, handler: Handler, messages: list[dict[str, Any]]
    ) -> None:
        event = sqs_event(messages, sub.queue_arn)
        ids = {m["MessageId"] for m in messages}
        started = time.monotonic()
        try:
            result = handler(event, self.context(sub.function))
            failed = _failed_ids(result, ids) if sub.report_batch_item_failures else set()
            if failed is None:
                log.error(
                    "%s: invalid batchItemFailures %r: the whole batch fails", sub.function, result
                )
                failed = ids
        except Exception:
            log.exception("%s: raised: the whole batch of %d fails", sub.function, len(messages))
            failed = ids
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
            ]
            self.sqs.delete_message_batch(QueueUrl=sub.queue_url, Entries=entries)  # type: ignore[arg-type]
        elapsed = (time.monotonic() - started) * 1000
        log.info(
            "%s: %d record(s), %d ok, %d failed, %.0f ms",
            sub.function,
            len(messages),
            len(done),
            len(failed),
            elapsed,
        )

    def _invoke_envelope(
        self, sub: Subscription, handler: Handler, message: dict[str, Any]
    ) -> None:
        envelope = rule_delivery(message["Body"])
        attempt = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
        started = time.monotonic()
        label = f"{envelope.get('detail-type')} {envelope.get('id')}"
        try:
            handler(envelope, self.context(sub.function))
        except Exception:
            log.exception("%s: %s raised (attempt %d)", sub.function, label, attempt)
            if sub.max_attempts is not None and attempt >= sub.max_attempts:
                self._dead_letter(sub, message)
            return
        self.sqs.delete_message(QueueUrl=sub.queue_url, ReceiptHandle=message["ReceiptHandle"])
        log.info("%s: %s ok, %.0f ms", sub.function, label, (time.monotonic() - started) * 1000)

    def _dead_letter(self, sub: Subscription, message: dict[str, Any]) -> None:
        if sub.dead_letter_queue_url is not None:
            self.sqs.send_message(QueueUrl=sub.dead_letter_queue_url, MessageBody=message["Body"])
            log.error(
                "%s: gave up after %s attempts; event sent to its DLQ",
                sub.function,
                sub.max_attempts,
            )
        else:
            log.error(
                "%s: gave up after %s attempts; event dropped", sub.function, sub.max_attempts
            )
        self.sqs.delete_message(QueueUrl=sub.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _release(self, sub: Subscription, messages: list[dict[str, Any]]) -> None:
        # shutting down: hand the messages back now rather than after the visibility timeout
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=sub.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    def fire_schedules(self) -> None:
        """Deliver one ``Scheduled Event`` for every scheduled rule."""
        for schedule in self.stack.schedules:
            body = json.dumps(scheduled_event(schedule.rule_arn, self.stack.region))
            self.sqs.send_message(QueueUrl=schedule.target_queue_url, MessageBody=body)

    # -- threads ---------------------------------------------------------------------------

    def start(self) -> None:
        """One polling thread per subscription, plus the scheduler."""
        for sub in self.subscriptions:
            for worker in range(self._concurrency if sub.kind == "sqs" else 1):
                thread = threading.Thread(
                    target=self._loop,
                    args=(sub,),
                    name=f"pump-{sub.function}-{worker}",
                    daemon=True,
                )
                self._threads.append(thread)
        if self._schedule_seconds and self.stack.schedules:
            self._threads.append(
                threading.Thread(target=self._scheduler, name="pump-schedule", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def _loop(self, sub: Subscription) -> None:
        while not self._stop.is_set():
            try:
                if self.handler(sub.function) is None:
                    self._stop.wait(self._wait)
                    continue
                self.poll_once(sub)
            except Exception:
                log.exception("%s: polling %s failed; retrying", sub.function, sub.queue_url)
                self._stop.wait(self._wait)

    def _scheduler(self) -> None:
        assert self._schedule_seconds is not None
        while not self._stop.wait(self._schedule_seconds):
            try:
                self.fire_schedules()
            except Exception:
                log.exception("scheduled events could not be sent")

    def stop(self) -> None:
        """Ask every thread to finish its current poll, and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self._wait + 30)


def main(argv: list[str] | None = None) -> None:
    """``python -m localdev.pump``: run until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", type=Path, default=Path(".localdev/stack.json"))
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--schedule-seconds", type=float, default=60.0)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(os.environ.get("ARTIFACTSTORE_LOCAL_PUMP_CONCURRENCY", "4")),
        help="concurrent invocations per SQS-triggered function (Lambda's concurrency)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s pump     %(message)s", datefmt="%H:%M:%S"
    )
    # Powertools warns on every invocation that records no metric; locally that is noise
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    for noisy in ("pynamodb", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    pump = Pump(
        LocalStack.read(args.stack),
        args.root,
        schedule_seconds=args.schedule_seconds,
        concurrency=args.concurrency,
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pump.start()
    log.info("polling %d queue(s)", len(pump.subscriptions))
    stopping.wait()
    pump.stop()


if __name__ == "__main__":
    main()
