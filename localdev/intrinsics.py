"""Resolve CloudFormation intrinsic functions against the local stack's physical names.

Only what a template's resource properties use: ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``,
``Fn::Join``, ``Fn::If`` (with ``Conditions``), ``Fn::Select``, ``Fn::Split`` and the pseudo
parameters. moto's own resolver lives in its private CloudFormation internals, so we keep this
small one rather than depend on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

NO_VALUE: Any = object()
_SUB_VAR = re.compile(r"\$\{([^}]+)\}")


class UnresolvableError(ValueError):
    """A reference the local stack cannot answer (e.g. a Lambda ARN, an SSM parameter)."""


RefLookup = Callable[[str], str]
AttLookup = Callable[[str, str], str]


class Resolver:
    """Evaluates intrinsics with fixed parameters, pseudo parameters and resource lookups."""

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        conditions: Mapping[str, Any],
        ref: RefLookup,
        getatt: AttLookup,
    ) -> None:
        self._parameters = dict(parameters)
        self._conditions = conditions
        self._ref = ref
        self._getatt = getatt

    def resolve(self, node: Any) -> Any:
        """``node`` with every intrinsic replaced; ``AWS::NoValue`` entries dropped."""
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            handler = self._FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def condition(self, name: str) -> bool:
        """The value of a named condition."""
        if name not in self._conditions:
            raise UnresolvableError(f"unknown condition {name!r}")
        return self._truth(self._conditions[name])

    def _truth(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                left, right = (self.resolve(value) for value in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._truth(arg[0])
            if key == "Fn::And":
                return all(self._truth(item) for item in arg)
            if key == "Fn::Or":
                return any(self._truth(item) for item in arg)
        raise UnresolvableError(f"not a condition: {node!r}")

    def _fn_ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._parameters:
            return self._parameters[name]
        return self._ref(name)

    def _fn_getatt(self, arg: Any) -> str:
        logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        return self._getatt(logical_id, self.resolve(attribute))

    def _fn_sub(self, arg: Any) -> str:
        template, variables = (arg, {}) if isinstance(arg, str) else arg
        values = {name: self.resolve(value) for name, value in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self._getatt(logical_id, attribute)
            return str(self._fn_ref(name))

        return _SUB_VAR.sub(substitute, template)

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg
        return str(delimiter).join(str(item) for item in self.resolve(items))

    def _fn_if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_select(self, arg: Any) -> Any:
        index, items = arg
        return self.resolve(items)[int(self.resolve(index))]

    def _fn_split(self, arg: Any) -> list[str]:
        delimiter, text = arg
        return str(self.resolve(text)).split(delimiter)

    _FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
        "Ref": _fn_ref,
        "Fn::GetAtt": _fn_getatt,
        "Fn::Sub": _fn_sub,
        "Fn::Join": _fn_join,
        "Fn::If": _fn_if,
        "Fn::Select": _fn_select,
        "Fn::Split": _fn_split,
    }


def references(node: Any) -> set[str]:
    """Logical ids a property value refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value.split(".", 1)[0] if isinstance(value, str) else value[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {part.split("}", 1)[0].split(".", 1)[0] for part in text.split("${")[1:]}
                found |= references(value if isinstance(value, str) else value[1])
            else:
                found |= references(value)
    return found
