"""Metadata schemas: JSON Schema draft 2020-12 documents registered under a slug.

Registering a schema hands its author some control over work the API does on every
``POST /packages`` that names it, so validation is kept bounded and closed (docs/security.md):

- nothing is ever fetched: ``$ref``/``$dynamicRef`` must point inside the document (refused at
  registration, ``schema_external_ref``), and validators resolve references in a registry that
  retrieves nothing;
- ``pattern`` and ``patternProperties`` run on RE2, which is linear in the text: a pattern RE2
  cannot compile (backreferences, lookaround) is refused (``schema_unsupported_pattern``);
- ``uniqueItems`` hashes each item once (linear) instead of comparing every pair;
- every keyword evaluation checks a budget (``VALIDATION_BUDGET_SECONDS``): past it, validation
  stops with ``validation_budget_exceeded`` whatever the schema's shape (``$ref`` cycles too).
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import canonical_json
from artifactstore.errors import InvalidInput

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9.-]{0,126}")
ID_PREFIX = "artifactstore:schemas:"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
# Work allowed for one validation (registration's meta-schema check, or one metadata document).
VALIDATION_BUDGET_SECONDS = 1.0
# At most this many failures are listed (each message at most MAX_MESSAGE_CHARS characters).
MAX_ERROR_DETAILS = 100
MAX_MESSAGE_CHARS = 500
_REF_KEYWORDS = ("$ref", "$dynamicRef")
_RE2_MAX_MEM = 8 << 20  # RE2's own default: a pattern whose program needs more is refused


def validate_slug(slug: object) -> str:
    """Return a valid schema slug or raise ``invalid_schema_slug``."""
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise InvalidInput(
            f"invalid schema slug {slug!r}: expected ^[a-z0-9][a-z0-9.-]{{0,126}}$",
            code="invalid_schema_slug",
            details={"slug": slug if isinstance(slug, str) else repr(slug)},
        )
    return slug


def slug_producer(slug: str) -> str:
    """The producer a schema slug belongs to: its part before the first ``.``."""
    return slug.split(".", 1)[0]


def json_pointer(parts: Any) -> str:
    """RFC 6901 pointer for a path of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _objects(document: object) -> Iterator[tuple[list[str | int], dict[str, Any]]]:
    """Every JSON object in ``document`` with its path, iteratively (depth costs no stack)."""
    pending: list[tuple[list[str | int], object]] = [([], document)]
    while pending:
        path, node = pending.pop()
        if isinstance(node, dict):
            yield path, node
            pending.extend(([*path, k], v) for k, v in node.items())
        elif isinstance(node, list):
            pending.extend(([*path, i], v) for i, v in enumerate(node))


def _is_internal(ref: str, own_id: str) -> bool:
    """A reference into the document itself: a fragment (pointer or anchor), or its own ``$id``."""
    return ref.startswith("#") or ref == "" or ref == own_id or ref.startswith(own_id + "#")


def check_document(slug: str, json_schema: Mapping[str, Any]) -> None:
    """Refuse what validation must never do: fetch, switch dialect, or run a backtracking regex.

    The whole document is walked, not only the places that are subschemas: a ``$ref`` can make
    any location a subschema (``#/examples/0``), so a ``$ref``, ``$schema`` or pattern in data
    such as ``const`` is judged the same way.
    """
    own_id = ID_PREFIX + slug
    for path, node in _objects(json_schema):
        for keyword in _REF_KEYWORDS:
            ref = node.get(keyword)
            if isinstance(ref, str) and not _is_internal(ref, own_id):
                pointer = json_pointer([*path, keyword])
                raise InvalidInput(
                    f"{keyword} {ref!r} at {pointer} points outside the schema; only references "
                    f"inside it ('#...', or '{own_id}#...') are allowed: nothing is ever fetched",
                    code="schema_external_ref",
                    details={"pointer": pointer, "ref": ref},
                )
        dialect = node.get("$schema")
        if path and isinstance(dialect, str) and dialect != DRAFT_2020_12:
            pointer = json_pointer([*path, "$schema"])
            raise InvalidInput(
                f"$schema at {pointer} must be {DRAFT_2020_12!r}: every part of a metadata "
                "schema is draft 2020-12",
                code="invalid_json_schema",
                details={"pointer": pointer, "message": f"unsupported $schema {dialect!r}"},
            )
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            _compile(pattern, json_pointer([*path, "pattern"]))
        properties = node.get("patternProperties")
        if isinstance(properties, dict):
            for key in properties:
                _compile(key, json_pointer([*path, "patternProperties", key]))


@functools.lru_cache(maxsize=1024)
def _re2(pattern: str) -> Any:
    """The compiled RE2 program, or the reason RE2 refuses the pattern (a ``str``)."""
    import re2

    options = re2.Options()
    options.log_errors = False
    options.max_mem = _RE2_MAX_MEM
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    except UnicodeEncodeError:
        return "the pattern is not valid Unicode (a lone surrogate)"


def _compile(pattern: str, pointer: str) -> Any:
    """RE2 program for a schema pattern, or ``schema_unsupported_pattern``."""
    program = _re2(pattern)
    if isinstance(program, str):
        raise InvalidInput(
            f"pattern {pattern[:200]!r} at {pointer} is not supported: {program}. Patterns run "
            "on RE2 (linear time): no backreferences, lookahead or lookbehind",
            code="schema_unsupported_pattern",
            details={"pointer": pointer, "pattern": pattern, "reason": program},
        )
    return program


def _search(pattern: str, text: str, pointer: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``text`` (ECMA-262 ``pattern`` semantics)."""
    try:
        return _compile(pattern, pointer).search(text) is not None
    except UnicodeEncodeError:
        return False  # a lone surrogate: JSON parsing refuses them before this; never matches


# -- bounded validation --------------------------------------------------------------------------


class _OverBudget(Exception):
    """The validation deadline passed."""


_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar(
    "artifactstore_schema_deadline", default=float("inf")
)


def _budgeted(keyword: Callable[..., Any]) -> Callable[..., Any]:
    """``keyword``, refusing to start once the validation deadline has passed."""

    @functools.wraps(keyword)
    def checked(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        if time.monotonic() > _DEADLINE.get():
            raise _OverBudget
        return keyword(validator, value, instance, schema)

    return checked


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _search(pattern, instance, "pattern"):
        yield ValidationError(f"{instance[:200]!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, properties: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in properties.items():
        for key, value in instance.items():
            if _search(pattern, key, "patternProperties"):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def equality_key(value: Any) -> Any:
    """A hashable key: equal keys exactly when JSON Schema calls the values equal.

    1 and 1.0 are equal, true and 1 are not, object key order never matters.
    """
    if value is True or value is False:
        return ("b", value)
    if value is None:
        return ("z",)
    if isinstance(value, int | float):
        return ("n", value)  # hash(1) == hash(1.0), and int/float compare exactly
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, Mapping):
        return ("o", frozenset((k, equality_key(v)) for k, v in value.items()))
    if isinstance(value, Sequence):
        return ("a", tuple(equality_key(v) for v in value))
    return ("?", repr(value))


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for index, item in enumerate(instance):
        key = equality_key(item)
        if key in seen:
            yield ValidationError(
                f"array has non-unique elements (item {index} repeats an earlier one)"
            )
            return
        seen.add(key)


@functools.cache
def _validator_class() -> Any:
    """Draft 2020-12 with bounded keywords; its subschemas never switch to another class."""
    import attrs
    from jsonschema import Draft202012Validator, validators

    keywords = {
        **Draft202012Validator.VALIDATORS,
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "uniqueItems": _unique_items,
    }
    cls: Any = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {name: _budgeted(fn) for name, fn in keywords.items()}
    )
    init_fields = [(f.name, f.alias) for f in attrs.fields(cls) if f.init]

    def evolve(self: Any, **changes: Any) -> Any:
        # jsonschema's own evolve picks a class from a subschema's "$schema" (the plain
        # Draft202012Validator for 2020-12): that would drop the bounded keywords.
        changes.setdefault("schema", self.schema)
        for name, alias in init_fields:
            changes.setdefault(alias, getattr(self, name))
        return cls(**changes)

    cls.evolve = evolve
    return cls


def _refuse_retrieval(uri: str) -> Any:
    """The registry's retrieve: nothing outside the document is ever fetched."""
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class


def _validator(schema: Mapping[str, Any], own_id: str | None) -> Validator:
    """A bounded validator for ``schema``, resolving references only inside it."""
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    cls = _validator_class()
    registry: Registry[Any] = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
    if own_id is not None:
        registry = registry.with_resource(own_id, DRAFT202012.create_resource(schema))
    validator: Validator = cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)
    return validator


def _first_errors(validator: Validator, instance: Any, budget: float) -> list[Any]:
    """Up to MAX_ERROR_DETAILS + 1 failures, or ``validation_budget_exceeded``."""
    token = _DEADLINE.set(time.monotonic() + budget)
    try:
        return list(itertools.islice(validator.iter_errors(instance), MAX_ERROR_DETAILS + 1))
    except (_OverBudget, RecursionError) as exc:
        raise InvalidInput(
            f"validation needed more than its budget ({budget:g} s of work); the schema is "
            "too costly for this document (or its $ref loops without end)",
            code="validation_budget_exceeded",
            details={"budget_seconds": budget},
        ) from exc
    finally:
        _DEADLINE.reset(token)


def _shorten(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 3] + "..."


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
        _check_meta_schema(json_schema)
        check_document(slug, json_schema)
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

    def validate(
        self, metadata: object, *, budget_seconds: float = VALIDATION_BUDGET_SECONDS
    ) -> None:
        """Raise ``metadata_invalid`` listing the failing JSON pointers; pass silently if valid.

        A schema stored before the registration checks existed is checked again here, so one
        with an external ``$ref`` or an RE2-incompatible pattern is refused, never run.
        """
        check_document(self.slug, self.json_schema)
        validator = _validator(self.json_schema, ID_PREFIX + self.slug)
        errors = _first_errors(validator, metadata, budget_seconds)
        if errors:
            listed = sorted(errors[:MAX_ERROR_DETAILS], key=lambda e: list(map(str, e.path)))
            details = [
                {"pointer": json_pointer(e.absolute_path), "message": _shorten(e.message)}
                for e in listed
            ]
            summary = "; ".join(f"{d['pointer'] or '/'}: {d['message']}" for d in details[:5])
            more = (
                f" (first {MAX_ERROR_DETAILS} failures)" if len(errors) > MAX_ERROR_DETAILS else ""
            )
            raise InvalidInput(
                f"metadata does not match schema {self.slug!r}{more}: {summary}",
                code="metadata_invalid",
                details=details,
            )


def _check_meta_schema(json_schema: Mapping[str, Any]) -> None:
    """Validate against the draft 2020-12 meta-schema, bounded like any validation."""
    from jsonschema import Draft202012Validator

    meta = _validator(Draft202012Validator.META_SCHEMA, None)
    errors = _first_errors(meta, json_schema, VALIDATION_BUDGET_SECONDS)
    if errors:
        error = errors[0]
        message = _shorten(error.message)
        raise InvalidInput(
            f"not a valid draft 2020-12 JSON Schema: {message}",
            code="invalid_json_schema",
            details={"pointer": json_pointer(error.absolute_path), "message": message},
        )


@dataclass(frozen=True, slots=True)
class StoredSchema:
    """A schema as the catalog keeps it: its canonical body (text), digest and first
    registration time."""

    slug: str
    body: str
    digest: str
    created_at: datetime
