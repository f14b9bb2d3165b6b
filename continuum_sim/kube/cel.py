"""A CRD's ``x-kubernetes-validations`` (CEL rules), evaluated as the API server does.

Rules are compiled (``common-expression-language``, the Python bindings of cel-rust) when
the CRD is registered; a rule that does not parse makes the CRD invalid. On every create,
update and patch each rule runs with ``self`` bound to the value at the schema node that
declares it (objects as maps, arrays as lists; a ``number`` is a double even when JSON wrote
an integer). A rule runs only where its node is present in the object: once per list item and
per ``additionalProperties`` value.

Updates (``old`` given):

- a **transition rule** (one that names ``oldSelf``) runs only where the node has an old
  value: through object fields and ``additionalProperties`` keys, and ``listType: map``
  items correlated by their keys (``set`` items by value); on create it does not run,
  unless it sets ``optionalOldSelf``, which makes ``oldSelf`` an optional (``none`` then);
- a rule at a node whose value is unchanged is skipped (validation ratcheting, as since
  1.30); transition rules still run there.

A rule that returns false is a cause at the rule's path (plus ``fieldPath``), worded as the
API server words it: ``Invalid value: "<schema type>": <message>`` (``messageExpression``
when it yields a non-empty string, else ``message``, else ``failed rule: <rule>``);
``reason`` picks ``Forbidden``/``Required``/``Duplicate`` instead. A rule that fails to
evaluate is ``Invalid value: "<type>": <error> evaluating rule: <rule>``.

The Kubernetes CEL library functions in :data:`K8S_FUNCTIONS` (list and string extensions)
are available besides standard CEL. Not emulated: the cost budget, compile-time type
checking against the schema (an unknown field is an evaluation error here, a compile error
on a real server), the ``format``-driven types (``date-time`` stays a string), and the
library's ``quantity``, ``url``, ``ip``/``cidr`` and ``format`` functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cel

from continuum_sim.kube.status import field_cause


class CelCompileError(ValueError):
    """A rule of the CRD does not compile; ``field`` is its path inside the schema."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- the Kubernetes CEL library (the parts that are plain functions) ----------------------


def _is_sorted(items: list[Any]) -> bool:
    return all(items[i] <= items[i + 1] for i in range(len(items) - 1))


def _sum(items: list[Any]) -> Any:
    return sum(items[1:], items[0]) if items else 0


def _min(items: list[Any]) -> Any:
    if not items:
        raise ValueError("min called on an empty list")
    return min(items)


def _max(items: list[Any]) -> Any:
    if not items:
        raise ValueError("max called on an empty list")
    return max(items)


def _index_of(target: Any, item: Any) -> int:
    if isinstance(target, str):
        return target.find(str(item))
    return next((i for i, v in enumerate(target) if v == item), -1)


def _last_index_of(target: Any, item: Any) -> int:
    if isinstance(target, str):
        return target.rfind(str(item))
    found = [i for i, v in enumerate(target) if v == item]
    return found[-1] if found else -1


def _lower_ascii(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


def _upper_ascii(text: str) -> str:
    return "".join(c.upper() if c.isascii() else c for c in text)


def _trim(text: str) -> str:
    return text.strip()


def _split(text: str, separator: str) -> list[str]:
    return text.split(separator)


def _join(items: list[Any], separator: str = "") -> str:
    return separator.join(str(i) for i in items)


def _replace(text: str, old: str, new: str) -> str:
    return text.replace(old, new)


def _find(text: str, pattern: str) -> str:
    match = re.search(pattern, text)
    return match.group(0) if match else ""


def _find_all(text: str, pattern: str) -> list[str]:
    return [m.group(0) for m in re.finditer(pattern, text)]


K8S_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": _lower_ascii,
    "upperAscii": _upper_ascii,
    "trim": _trim,
    "split": _split,
    "join": _join,
    "replace": _replace,
    "find": _find,
    "findAll": _find_all,
}
"""Kubernetes CEL extension functions, callable as functions or methods (``l.isSorted()``)."""


def compile_expression(text: str) -> cel.Program:
    """A program for one CEL expression. Raises ``ValueError`` when it does not parse."""
    return cel.compile(text)


def context(variables: dict[str, Any]) -> cel.Context:
    """An evaluation context with ``variables`` and :data:`K8S_FUNCTIONS`. Converting the
    variables is most of an evaluation's cost: share one context between rules."""
    return cel.Context(variables=variables, functions=K8S_FUNCTIONS)


def evaluate(program: cel.Program, variables: dict[str, Any] | cel.Context) -> Any:
    """Run ``program`` with ``variables`` (and :data:`K8S_FUNCTIONS`); raises what the
    evaluation raises (``KeyError`` for a missing field, ``RuntimeError``, ...)."""
    ctx = variables if isinstance(variables, cel.Context) else context(variables)
    return program.execute(ctx)


# --- the compiled tree ----------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One ``x-kubernetes-validations`` entry, compiled."""

    text: str
    program: cel.Program
    message: str
    message_program: cel.Program | None
    field_path: str
    reason: str
    transition: bool
    optional_old_self: bool = False


@dataclass
class Node:
    """A schema node that has rules itself or below it."""

    type: str
    rules: list[Rule] = field(default_factory=list)
    properties: dict[str, Node] = field(default_factory=dict)
    items: Node | None = None
    additional: Node | None = None
    map_keys: tuple[str, ...] = ()
    list_type: str = ""
    has_transition: bool = False


def _compile_rules(schema: dict[str, Any], where: str) -> list[Rule]:
    rules: list[Rule] = []
    for index, entry in enumerate(schema.get("x-kubernetes-validations") or []):
        at = f"{where}.x-kubernetes-validations[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("rule"), str):
            raise CelCompileError(f"{at}.rule", "Required value")
        text = entry["rule"]
        try:
            program = compile_expression(text)
        except ValueError as exc:
            raise CelCompileError(
                f"{at}.rule", f"Invalid value: {text!r}: compilation failed: {exc}"
            ) from exc
        message_program = None
        if entry.get("messageExpression"):
            try:
                message_program = compile_expression(str(entry["messageExpression"]))
            except ValueError as exc:
                raise CelCompileError(
                    f"{at}.messageExpression", f"Invalid value: compilation failed: {exc}"
                ) from exc
        rules.append(
            Rule(
                text=text,
                program=program,
                message=str(entry.get("message") or ""),
                message_program=message_program,
                field_path=str(entry.get("fieldPath") or ""),
                reason=str(entry.get("reason") or "FieldValueInvalid"),
                transition="oldSelf" in program.variables(),
                optional_old_self=bool(entry.get("optionalOldSelf")),
            )
        )
    return rules


def compile_tree(schema: dict[str, Any], where: str = "openAPIV3Schema") -> Node | None:
    """The rule-bearing part of a structural schema, or ``None`` when it has no rules.
    Raises :class:`CelCompileError`."""
    node = Node(
        type=str(schema.get("type") or ""),
        rules=_compile_rules(schema, where),
        list_type=str(schema.get("x-kubernetes-list-type") or ""),
        map_keys=tuple(schema.get("x-kubernetes-list-map-keys") or ()),
    )
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict):
            child = compile_tree(sub, f"{where}.properties[{name}]")
            if child is not None:
                node.properties[name] = child
    if isinstance(schema.get("items"), dict):
        node.items = compile_tree(schema["items"], f"{where}.items")
    if isinstance(schema.get("additionalProperties"), dict):
        node.additional = compile_tree(
            schema["additionalProperties"], f"{where}.additionalProperties"
        )
    children = [*node.properties.values(), node.items, node.additional]
    node.has_transition = any(r.transition for r in node.rules) or any(
        c is not None and c.has_transition for c in children
    )
    if not node.rules and not any(c is not None for c in children):
        return None
    return node


# --- values ---------------------------------------------------------------------------------


def to_cel(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` typed by ``schema`` for CEL: a ``number`` is a double even when JSON wrote
    it as an integer; everything else is passed as it is (maps, lists, ints, strings)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and schema.get("type") == "number":
        return float(value)
    if isinstance(value, list):
        items = schema.get("items")
        return [to_cel(v, items if isinstance(items, dict) else {}) for v in value]
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        other = additional if isinstance(additional, dict) else {}
        return {k: to_cel(v, props.get(k, other)) for k, v in value.items()}
    return value


_MISSING = object()


def _join_path(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _rule_path(path: str, field_path: str) -> str:
    relative = field_path.lstrip(".")
    if not relative:
        return path
    if relative.startswith("["):
        return f"{path}{relative}"
    return _join_path(path, relative)


def _failure(rule: Rule, node: Node, path: str, activation: cel.Context) -> dict[str, str]:
    message = rule.message or f"failed rule: {rule.text}"
    if rule.message_program is not None:
        try:
            dynamic = evaluate(rule.message_program, activation)
        except Exception:  # a failed messageExpression falls back to message, as upstream
            dynamic = None
        if isinstance(dynamic, str) and dynamic.strip():
            message = str(dynamic)
    where = _rule_path(path, rule.field_path)
    shown = f'"{node.type or "object"}"'
    if rule.reason == "FieldValueForbidden":
        return field_cause(where, f"Forbidden: {message}", reason=rule.reason)
    if rule.reason == "FieldValueRequired":
        return field_cause(where, f"Required value: {message}", reason=rule.reason)
    if rule.reason == "FieldValueDuplicate":
        return field_cause(where, f"Duplicate value: {shown}", reason=rule.reason)
    return field_cause(where, f"Invalid value: {shown}: {message}")


class CelValidator:
    """Every rule of one schema, ready to check objects."""

    def __init__(self, schema: dict[str, Any]) -> None:
        """Raises :class:`CelCompileError` for a rule that does not compile."""
        self.schema = schema
        self.root = compile_tree(schema)

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None) -> list[dict[str, str]]:
        """Causes for every rule that does not hold (empty when all hold)."""
        if self.root is None:
            return []
        causes: list[dict[str, str]] = []
        root_view = _root_view(obj)
        old_view = _root_view(old) if old is not None else _MISSING
        self._walk(self.root, self.schema, root_view, old_view, "", causes)
        return causes

    def _walk(
        self,
        node: Node,
        schema: dict[str, Any],
        value: Any,
        old: Any,
        path: str,
        causes: list[dict[str, str]],
    ) -> None:
        if value is None:
            return
        unchanged = old is not _MISSING and old == value
        if unchanged and not node.has_transition:
            return
        runnable = [
            rule
            for rule in node.rules
            if not (rule.transition and old is _MISSING and not rule.optional_old_self)
            and not (unchanged and not rule.transition)
        ]
        if runnable:
            self._run_all(runnable, node, schema, value, old, path, causes)
        props: dict[str, Any] = schema.get("properties") or {}
        if isinstance(value, dict):
            for name, child in node.properties.items():
                if name in value:
                    before = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
                    self._walk(
                        child, props[name], value[name], before, _join_path(path, name), causes
                    )
            if node.additional is not None:
                sub = schema["additionalProperties"]
                for key, item in value.items():
                    if key in props:
                        continue
                    before = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
                    self._walk(node.additional, sub, item, before, _join_path(path, key), causes)
        if isinstance(value, list) and node.items is not None:
            sub = schema["items"]
            olds = _correlate(node, value, old)
            for index, item in enumerate(value):
                self._walk(node.items, sub, item, olds[index], f"{path}[{index}]", causes)

    def _run_all(
        self,
        rules: list[Rule],
        node: Node,
        schema: dict[str, Any],
        value: Any,
        old: Any,
        path: str,
        causes: list[dict[str, str]],
    ) -> None:
        """Run ``rules`` of one node, converting its value (and old value) only once."""
        typed = to_cel(value, schema)
        typed_old = _MISSING if old is _MISSING else to_cel(old, schema)
        contexts: dict[bool, cel.Context] = {}
        for rule in rules:
            ctx = contexts.get(rule.optional_old_self)
            if ctx is None:
                variables: dict[str, Any] = {"self": typed}
                if rule.optional_old_self:
                    variables["oldSelf"] = (
                        cel.OptionalValue.none()
                        if typed_old is _MISSING
                        else cel.OptionalValue.of(typed_old)
                    )
                elif typed_old is not _MISSING:
                    variables["oldSelf"] = typed_old
                ctx = contexts[rule.optional_old_self] = context(variables)
            self._run(rule, node, path, ctx, causes)

    def _run(
        self,
        rule: Rule,
        node: Node,
        path: str,
        ctx: cel.Context,
        causes: list[dict[str, str]],
    ) -> None:
        shown = f'"{node.type or "object"}"'
        try:
            result = evaluate(rule.program, ctx)
        except Exception as exc:  # any evaluation failure is the rule's error, never a 500
            causes.append(
                field_cause(
                    _rule_path(path, rule.field_path),
                    f"Invalid value: {shown}: {exc} evaluating rule: {rule.text}",
                )
            )
            return
        if result is not True:
            causes.append(_failure(rule, node, path, ctx))


def _root_view(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as root rules see it: metadata reduced to ``name`` and ``generateName``."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj
    kept = {k: meta[k] for k in ("name", "generateName") if k in meta}
    return {**obj, "metadata": kept}


def _correlate(node: Node, value: list[Any], old: Any) -> list[Any]:
    """Each item's old value: ``listType: map`` items by their keys, ``set`` items by
    value; other lists have no correlation."""
    if not isinstance(old, list) or node.list_type not in ("map", "set"):
        return [_MISSING] * len(value)
    if node.list_type == "set":
        return [item if item in old else _MISSING for item in value]
    index: dict[tuple[Any, ...], Any] = {}
    for item in old:
        if isinstance(item, dict):
            index[tuple(repr(item.get(k)) for k in node.map_keys)] = item
    return [
        index.get(tuple(repr(item.get(k)) for k in node.map_keys), _MISSING)
        if isinstance(item, dict)
        else _MISSING
        for item in value
    ]
