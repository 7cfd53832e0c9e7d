"""Metadata schemas: JSON Schema draft 2020-12 documents registered under a slug."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import canonical_json
from artifactstore.errors import InvalidInput

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9.-]{0,126}")
ID_PREFIX = "artifactstore:schemas:"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def validate_slug(slug: object) -> str:
    """Return a valid schema slug or raise ``invalid_schema_slug``."""
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise InvalidInput(
            f"invalid schema slug {slug!r}: expected ^[a-z0-9][a-z0-9.-]{{0,126}}$",
            code="invalid_schema_slug",
            details={"slug": slug if isinstance(slug, str) else repr(slug)},
        )
    return slug


def json_pointer(parts: Any) -> str:
    """RFC 6901 pointer for a path of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True, slots=True)
class MetadataSchema:
    """A registered schema: immutable, identified by slug, compared by canonical bytes."""

    slug: str
    json_schema: Mapping[str, Any]

    @classmethod
    def create(cls, slug: object, json_schema: object) -> MetadataSchema:
        """Validate slug, ``$id`` and the draft 2020-12 meta-schema, then build the value."""
        slug = validate_slug(slug)
        if not isinstance(json_schema, dict):
            raise InvalidInput("json_schema must be a JSON object", code="invalid_json_schema")
        expected_id = ID_PREFIX + slug
        if "$id" in json_schema and json_schema["$id"] != expected_id:
            raise InvalidInput(
                f"$id must be {expected_id!r}, not {json_schema['$id']!r}",
                code="schema_id_mismatch",
                details={"expected": expected_id, "actual": json_schema["$id"]},
            )
        if "$schema" in json_schema and json_schema["$schema"] != DRAFT_2020_12:
            raise InvalidInput(
                f"$schema must be {DRAFT_2020_12!r} (JSON Schema draft 2020-12)",
                code="invalid_json_schema",
            )
        # jsonschema is imported where it works: the verifier and linker never load it.
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(json_schema)
        except SchemaError as exc:
            raise InvalidInput(
                f"not a valid draft 2020-12 JSON Schema: {exc.message}",
                code="invalid_json_schema",
                details={"pointer": json_pointer(exc.absolute_path), "message": exc.message},
            ) from exc
        canonical_json(json_schema)  # refuse what cannot be stored canonically
        return cls(slug, json_schema)

    @property
    def canonical_bytes(self) -> bytes:
        """RFC 8785 bytes of the schema document: key order never matters."""
        return canonical_json(self.json_schema)

    @property
    def digest(self) -> Digest:
        """BLAKE3 of the canonical bytes."""
        return Digest.of_bytes(self.canonical_bytes)

    def validate(self, metadata: object) -> None:
        """Raise ``metadata_invalid`` listing every failing JSON pointer; pass silently if valid."""
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(
            self.json_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        errors = sorted(validator.iter_errors(metadata), key=lambda e: list(map(str, e.path)))
        if errors:
            details = [
                {"pointer": json_pointer(e.absolute_path), "message": e.message} for e in errors
            ]
            summary = "; ".join(f"{d['pointer'] or '/'}: {d['message']}" for d in details[:5])
            raise InvalidInput(
                f"metadata does not match schema {self.slug!r}: {summary}",
                code="metadata_invalid",
                details=details,
            )
