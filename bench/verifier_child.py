"""Run in a fresh process by ``bench.verifier``: one measured job, one JSON line on stdout.

``verify BUCKET KEY``: import the verifier Lambda's module, then invoke its handler with the SQS
event Lambda would send for the object. ``hash PATH``: hash a local file as ``manifest`` does.
``get BUCKET KEY``: only read the object from storage (what moto can serve, for comparison).
Peak RSS growth: the peak (VmHWM, reset once the imports are done) minus the RSS at that point.
"""

from __future__ import annotations

import importlib.util
import json
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _baseline() -> float:
    """RSS now, with the peak reset to it (where the kernel allows; else ``ru_maxrss``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return _status_mib("VmRSS")


def _rss_mib() -> float:
    # Not ru_maxrss: Linux carries it across exec from the parent (the bench, which just hashed
    # the same 1 GiB file), so a child would report its parent's peak.
    return _status_mib("VmHWM")


def sqs_event(bucket: str, key: str, size: int) -> dict[str, Any]:
    """The SQS batch event (one S3 ObjectCreated notification) Lambda hands the verifier."""
    notification = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-01-01T00:00:00.000Z",
                "eventName": "ObjectCreated:CompleteMultipartUpload",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": size},
                },
            }
        ]
    }
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": json.dumps(notification),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                "awsRegion": "us-east-1",
            }
        ]
    }


def _verify(bucket: str, key: str, size: int) -> dict[str, Any]:
    from localdev.pump import LambdaContext

    spec = importlib.util.spec_from_file_location("app", ROOT / "functions/verifier/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = LambdaContext("verifier", 1769, "arn:aws:lambda:us-east-1:1:function:v", 900)
    event = sqs_event(bucket, key, size)
    before = _baseline()
    started = time.perf_counter()
    answer = module.lambda_handler(event, context)
    return {"seconds": time.perf_counter() - started, "rss_before": before, "answer": answer}


def _hash(path: str) -> dict[str, Any]:
    from artifactstore.domain.digests import hash_file

    before = _baseline()
    started = time.perf_counter()
    digest = hash_file(path)
    return {"seconds": time.perf_counter() - started, "rss_before": before, "digest": str(digest)}


def _get(bucket: str, key: str) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    # moto gives a copied multipart object its source's composite checksum, which botocore
    # then fails to match; the storage adapter's reads do not validate it either.
    s3 = boto3.client("s3", config=Config(response_checksum_validation="when_required"))
    before = _baseline()
    started = time.perf_counter()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    total = 0
    for chunk in iter(lambda: body.read(8 << 20), b""):
        total += len(chunk)
    return {"seconds": time.perf_counter() - started, "rss_before": before, "bytes": total}


def main() -> None:
    """Dispatch on the first argument; print the figures as JSON."""
    mode, *args = sys.argv[1:]
    if mode == "verify":
        out = _verify(args[0], args[1], int(args[2]))
    elif mode == "hash":
        out = _hash(args[0])
    else:
        out = _get(args[0], args[1])
    out["rss_peak"] = _rss_mib()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
