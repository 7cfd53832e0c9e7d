"""The snippet in docs/attestations.md works as written: ``cryptography`` and a public key only."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import rfc8785

from tests.unit.attestation_keys import LocalKey, envelope_for, with_payload_byte_changed

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "attestations.md"
MANIFEST = rfc8785.dumps({"manifest_version": 1, "producer": "guide-board", "files": []})


def doc_snippet() -> str:
    """The python block between ``<!-- tested: verify-start -->`` and ``verify-end``."""
    found = re.search(
        r"<!-- tested: verify-start -->\n```python\n(.*?)```\n<!-- tested: verify-end -->",
        DOC.read_text(encoding="utf-8"),
        re.DOTALL,
    )
    assert found, f"the verify snippet is not in {DOC}"
    return found.group(1)


def run_snippet(work: Path, envelope: bytes, key_pem: bytes, manifest: bytes | None) -> str:
    """Run the doc's snippet as a script; its stdout, or the error on its last stderr line."""
    script = work / "verify_attestation.py"
    script.write_text(doc_snippet())
    (work / "envelope.json").write_bytes(envelope)
    (work / "key.pem").write_bytes(key_pem)
    args = [sys.executable, "-I", str(script), "envelope.json", "key.pem"]
    if manifest is not None:
        (work / "manifest.json").write_bytes(manifest)
        args.append("manifest.json")
    done = subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout if done.returncode == 0 else "FAILED " + done.stderr.strip().splitlines()[-1]


def test_the_snippet_imports_nothing_of_ours() -> None:
    imported = set(re.findall(r"^(?:from|import) ([\w.]+)", doc_snippet(), re.MULTILINE))
    assert {name.split(".")[0] for name in imported} <= {
        "base64",
        "hashlib",
        "json",
        "sys",
        "pathlib",
        "cryptography",
    }


def test_a_good_envelope_passes(tmp_path: Path) -> None:
    key = LocalKey.new()
    envelope = envelope_for(MANIFEST, key)
    out = run_snippet(tmp_path, envelope, key.pem, MANIFEST)
    package_id = json.loads(envelope_payload(envelope))["predicate"]["package_id"]
    assert out.startswith(f"OK {package_id} blake3:"), out


def test_a_changed_payload_byte_fails(tmp_path: Path) -> None:
    key = LocalKey.new()
    tampered = with_payload_byte_changed(envelope_for(MANIFEST, key))
    assert run_snippet(tmp_path, tampered, key.pem, MANIFEST).startswith("FAILED ")
    assert "InvalidSignature" in run_snippet(tmp_path, tampered, key.pem, None)


def test_another_key_fails(tmp_path: Path) -> None:
    envelope = envelope_for(MANIFEST, LocalKey.new())
    assert "InvalidSignature" in run_snippet(tmp_path, envelope, LocalKey.new().pem, None)


def test_another_manifest_fails(tmp_path: Path) -> None:
    key = LocalKey.new()
    envelope = envelope_for(MANIFEST, key)
    out = run_snippet(tmp_path, envelope, key.pem, MANIFEST + b" ")
    assert out.startswith("FAILED ") and "another manifest" in out


def envelope_payload(envelope: bytes) -> bytes:
    import base64

    return base64.b64decode(json.loads(envelope)["payload"])
