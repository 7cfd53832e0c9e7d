"""Work moto repeats on every request, done once: installed by ``MotoServer.start`` for the
local stack (``make dev``, the demo, benchmarks) and the tests' in-process server alike.

Each shortcut gives exactly what moto's own code gives (moto is pinned exactly, pyproject.toml;
tests/unit/test_moto_speed.py compares them) and none changes what moto stores or answers:
they only take CPU off the server threads, which share the GIL with whatever else runs there.

- ``moto.backends.list_of_moto_modules`` lists moto's package directory (``listdir`` and an
  ``isdir`` for each of some 200 services) on every request, while holding the dispatcher's
  global lock, so concurrent requests queue behind it. The directory does not change while a
  test session runs.
- The response serializer looks for each member of a structure under several names (the
  member, its snake_case form, aliases from the shape and from the object's class), building
  alias providers each time. For a plain ``dict`` those names depend only on the member's
  shape and its parent, so one answer works them out once per member.
- It also looks up every member the model declares, present or not: a DynamoDB attribute
  value declares ten (``S``, ``N``, ``B``, ``SS``, ..., ``BOOL``) and holds one, so an answer
  of 100 items of 13 attributes makes some 12,000 lookups that find nothing. In a plain
  ``dict``, a member none of whose names is a key has no value, and the serializer skips it;
  the JSON serializer (DynamoDB, SQS, EventBridge, KMS; not rest-json, whose member step does
  more) now skips it without the lookup.
- DynamoDB checks an UpdateExpression's clause counts (``ActionCountValidator``) and its paths
  (``OverlappingPathsValidator``) at every node of its tree, each time collecting the clauses
  or actions below that node: a ``SET`` of n actions nests n deep, so that is quadratic. Each
  check only fails when the nodes it collects hold too many clauses or two overlapping paths,
  and a node's collection is part of the root's whenever the root's holds every such node of
  the tree (counted in one walk). Then the check runs once, at the root; when the counts
  differ, or the root's check fails, moto's own traversal runs, so any error is moto's own
  (the first node it fails at, its message).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

# (owner, attribute) -> moto's own function, saved when the shortcuts are installed
_ORIGINALS: dict[tuple[Any, str], Any] = {}


def install() -> None:
    """Install the shortcuts (once per process)."""
    if _ORIGINALS:
        return
    from moto import backends
    from moto.core import serialize
    from moto.dynamodb.parsing import validators

    ast_nodes: Any = _ast_nodes()
    counted = validators.ActionCountValidator
    overlaps = validators.OverlappingPathsValidator
    replacements = [
        (backends, "list_of_moto_modules", _module_list(backends.list_of_moto_modules)),
        (serialize.XFormedAttributePicker, "get_possible_keys", _cached_names),
        (serialize.BaseJSONSerializer, "_serialize_type_structure", _present_members_only),
        # What verify_action_counts collects (one find_clauses per type) ...
        (
            counted,
            "traverse",
            _checked_at_root(
                counted,
                (ast_nodes.UpdateExpressionAddClause,),
                (ast_nodes.UpdateExpressionRemoveClause,),
                (ast_nodes.UpdateExpressionSetClause,),
            ),
        ),
        # ... and check_for_overlapping_paths (one find_clauses for all four).
        (
            overlaps,
            "traverse",
            _checked_at_root(
                overlaps,
                (
                    ast_nodes.UpdateExpressionSetAction,
                    ast_nodes.UpdateExpressionAddAction,
                    ast_nodes.UpdateExpressionRemoveAction,
                    ast_nodes.UpdateExpressionDeleteAction,
                ),
            ),
        ),
    ]
    for owner, name, _replacement in replacements:
        _ORIGINALS[owner, name] = getattr(owner, name)
    for owner, name, replacement in replacements:
        setattr(owner, name, replacement)


@contextmanager
def moto_as_released() -> Iterator[None]:
    """moto's own code for a while, then the shortcuts again (single-threaded use only)."""
    saved = dict(_ORIGINALS)
    for (owner, name), original in saved.items():
        setattr(owner, name, original)
    _ORIGINALS.clear()
    try:
        yield
    finally:
        if saved:
            install()


def _original(owner: Any, name: str) -> Any:
    return _ORIGINALS[owner, name]


def _ast_nodes() -> Any:
    """moto's DynamoDB expression nodes (a module its ``# type: ignore`` hides from mypy)."""
    from moto.dynamodb.parsing import ast_nodes

    return ast_nodes


def _module_list(listing: Callable[[], Iterable[str]]) -> Callable[[], Iterable[str]]:
    modules = tuple(listing())

    def list_of_moto_modules() -> Iterable[str]:
        return modules

    return list_of_moto_modules


def _names(picker: Any, obj: dict[Any, Any], shape: Any, key: str, context: Any) -> tuple[str, ...]:
    """The names ``picker`` tries for member ``key`` (shape ``shape``) of the plain dict ``obj``.

    ``context`` is the picker's context, or a function making it (built only when needed).
    What the alias providers read of a plain dict (no ``Meta``, the class name ``dict``) is the
    same for every one, so the names depend on the shape, its parent and the key alone.
    """
    from moto.core import serialize

    # One picker serves one answer: the cache lives as long as that answer's serializing.
    cache: dict[tuple[int, int, str], tuple[Any, Any, tuple[str, ...]]]
    cache = picker.__dict__.setdefault("_names_by_shape", {})
    parent = getattr(shape, "parent", None)
    entry = cache.get((id(shape), id(parent), key))
    if entry is None or entry[0] is not shape or entry[1] is not parent:
        made = context() if callable(context) else context
        names = _original(serialize.XFormedAttributePicker, "get_possible_keys")(picker, made)
        entry = (shape, parent, tuple(names))
        cache[(id(shape), id(parent), key)] = entry
    return entry[2]


def _cached_names(self: Any, context: Any) -> Iterable[str]:
    from moto.core import serialize

    if type(context.obj) is not dict:
        return _original(serialize.XFormedAttributePicker, "get_possible_keys")(self, context)  # type: ignore[no-any-return]
    return _names(self, context.obj, context.shape, context.key, context)


def _present_members_only(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
    from moto.core import serialize

    picker = self._value_picker
    if (
        type(value) is not dict
        or shape.is_document_type
        or type(picker) is not serialize.XFormedAttributePicker
        or picker.response_transformers  # a transformer may give a missing member a value
        # rest-json's own member step does more than skip a member without a value
        or type(self)._serialize_structure_member
        is not serialize.ResponseSerializer._serialize_structure_member
    ):
        _original(serialize.BaseJSONSerializer, "_serialize_type_structure")(
            self, serialized, value, shape, key
        )
        return
    # ResponseSerializer._serialize_type_structure, looking a member up only when one of the
    # names the picker tries is a key of the dict. (A name with a dot, which get_value would
    # follow as a path into the dict, always gets the lookup.)
    wrapper: Any = self.MAP_TYPE() if key else serialized
    for member_key, member_shape in shape.members.items():
        member_shape.parent = shape

        def context(k: str = member_key, s: Any = member_shape) -> Any:
            return serialize.AttributePickerContext(
                obj=value,
                key=k,
                shape=s,
                operation_model=self.operation_model,
                service_model=self.operation_model.service_model,
                key_path=".".join(self.path),
            )

        names = _names(picker, value, member_shape, member_key, context)
        if any("." in name or name in value for name in names):
            self._serialize_structure_member(wrapper, value, member_shape, member_key)
    if key:
        self._default_serialize(serialized, wrapper, shape, key)


def _checked_at_root(owner: type, *collected: tuple[type, ...]) -> Callable[[Any, Any], Any]:
    """``owner.traverse`` running ``owner``'s check once, at the root of the tree.

    ``owner`` checks each ``UpdateExpression`` node of the tree (moto's ``DepthFirstTraverser``,
    bottom up) with what ``node.find_clauses(types)`` collects below it, for each tuple of
    node types in ``collected``, and fails when that is too many clauses or holds overlapping
    or repeated paths: never for fewer of the same nodes. ``find_clauses`` goes down through
    expression and function nodes and stops at a node of the types, so what it collects below
    a node is among the nodes of the types in the whole tree; when the root's collection has
    as many as the tree has (the same nodes, then), every node's is part of the root's, and
    the root's check passing means every node's would. The check changes nothing in the tree.
    """

    def traverse(self: Any, node: Any) -> Any:
        if isinstance(node, _ast_nodes().UpdateExpression):
            in_tree = _node_types(node)
            if all(
                len(node.find_clauses(list(types))) == sum(in_tree.get(t, 0) for t in types)
                for types in collected
            ):
                # On an error, moto's own traversal below raises it, from the node it fails at.
                with contextlib.suppress(Exception):
                    self.process(node)
                    return node
        return _original(owner, "traverse")(self, node)

    return traverse


def _node_types(root: Any) -> dict[type, int]:
    """How many nodes of each type the tree under ``root`` (itself included) has, counted as
    moto's ``DepthFirstTraverser`` walks it."""
    node_type = _ast_nodes().Node
    counts: dict[type, int] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, node_type):
            counts[type(node)] = counts.get(type(node), 0) + 1
            if node.children is not None:
                stack.extend(node.children)
    return counts
