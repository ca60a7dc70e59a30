"""Locate pydantic validation errors in the YAML node tree they came from.

Pydantic reports an error at a ``loc`` path such as
``("reveals", "history", "FirstEvents", "first_events")``. The YAML composer
keeps a start mark (line, column) on every node. This module walks the node
tree along the ``loc`` path and uses the nearest existing node's mark:

- a wrong value points at the value;
- an unknown key points at the key, with the allowed keys and a "did you mean";
- a missing key points at the key of the mapping that lacks it.

Elements of ``loc`` that name a union member (``FirstEvents``,
``literal['none','all']``, a discriminator value such as ``age``) are not
YAML keys. They are recognised by walking the model's type annotations beside
the node tree, and they are left out of the dotted field name. When a value
fails every member of a union, only the member it resembles most is reported
(fewest unknown and missing keys), because errors from the other members only
describe shapes that the author never meant.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from benchmark.specs.errors import SpecError, choices_text, did_you_mean

# Error types that mean the value has the wrong keys. A union member that the
# author did not mean fails with these.
_SHAPE_ERRORS = frozenset({"missing", "extra_forbidden"})

_VALUE_ERROR_PREFIX = "Value error, "


@dataclass(frozen=True)
class _Step:
    """Role of one element of a pydantic ``loc``, read from the model's types."""

    role: str  # "key", "index", "tag" (a union member name) or "dict_key"
    owner: type[BaseModel] | None  # the model whose field a "key" names
    member: Any = None  # for a "tag": the union member type it selects
    value_type: Any = None  # for a "key" of a model: the field's annotation


def validation_errors(
    error: ValidationError,
    *,
    model: type[BaseModel],
    path: Path,
    node: yaml.Node,
    field_prefix: str = "",
) -> list[SpecError]:
    """Turn a pydantic ``ValidationError`` into located ``SpecError`` objects.

    ``node`` is the YAML node that was validated with ``model`` and
    ``field_prefix`` its dotted path in the file (for a probe's parameters,
    ``probes.membership``).
    """
    details = [dict(detail) for detail in error.errors(include_url=False)]
    classified = [(detail, _classify(model, detail["loc"])) for detail in details]
    classified = _choose_union_members(classified)
    return [
        _locate(detail, steps, path=path, node=node, field_prefix=field_prefix)
        for detail, steps in classified
    ]


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _union_members(annotation: Any) -> list[Any] | None:
    """Return the non-None members of a union type, or None for other types."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    return [_unwrap(member) for member in typing.get_args(annotation) if member is not type(None)]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _member_for_tag(members: Sequence[Any], tag: Any) -> Any:
    """Return the union member that pydantic names ``tag``, or None.

    Pydantic names a model member by its class name, and a member of a
    discriminated union by its discriminator value.
    """
    for member in members:
        if not _is_model(member):
            continue
        if member.__name__ == tag:
            return member
        for field in member.model_fields.values():
            literal = _unwrap(field.annotation)
            if typing.get_origin(literal) is typing.Literal and tag in typing.get_args(literal):
                return member
    return None


def _classify(model: type[BaseModel], loc: Sequence[Any]) -> list[_Step]:
    """Read each element of ``loc`` against the model's types."""
    steps: list[_Step] = []
    current: Any = model
    for element in loc:
        current = _unwrap(current)

        if element == "[key]":
            steps.append(_Step("dict_key", None))
            continue

        members = _union_members(current)
        if members is not None and len(members) > 1:
            # Pydantic names the union member in ``loc`` for every union of two
            # or more types; ``X | None`` is validated as nullable, without one.
            member = _member_for_tag(members, element)
            steps.append(_Step("tag", None, member))
            current = member
            continue
        if members is not None and len(members) == 1:
            current = members[0]

        if _is_model(current):
            field = current.model_fields.get(element) if isinstance(element, str) else None
            value_type = field.annotation if field is not None else None
            steps.append(_Step("key", current, value_type=value_type))
            current = value_type
            continue

        origin = typing.get_origin(current)
        arguments = typing.get_args(current)
        if isinstance(element, int) and origin in (list, tuple, set, frozenset):
            steps.append(_Step("index", None))
            current = arguments[0] if arguments else None
        elif origin is dict:
            steps.append(_Step("key", None))
            current = arguments[1] if len(arguments) == 2 else None
        else:
            steps.append(_Step("index" if isinstance(element, int) else "key", None))
            current = None
    return steps


def _choose_union_members(
    classified: list[tuple[dict[str, Any], list[_Step]]],
) -> list[tuple[dict[str, Any], list[_Step]]]:
    """Keep, for each union that failed, the errors of the member the value resembles."""
    sites: dict[tuple[Any, ...], dict[Any, list[int]]] = {}
    for index, (detail, steps) in enumerate(classified):
        tag_positions = [i for i, step in enumerate(steps) if step.role == "tag"]
        if not tag_positions:
            continue
        position = tag_positions[0]
        site = tuple(detail["loc"][:position])
        sites.setdefault(site, {}).setdefault(detail["loc"][position], []).append(index)

    dropped: set[int] = set()
    merged: list[tuple[dict[str, Any], list[_Step]]] = []
    for site, branches in sites.items():
        if len(branches) < 2:
            continue

        depth = len(site)
        deep = {
            tag: indices
            for tag, indices in branches.items()
            if all(len(classified[i][0]["loc"]) > depth + 1 for i in indices)
        }
        if deep:
            # The value has the right type for some members: report the member
            # whose keys fit best, then the one with the fewest errors.
            def fit(tag: Any, candidates: dict[Any, list[int]] = deep) -> tuple[int, int]:
                indices = candidates[tag]
                shape = sum(classified[i][0]["type"] in _SHAPE_ERRORS for i in indices)
                return shape, len(indices)

            best = min(deep, key=fit)
            dropped.update(i for tag, indices in branches.items() if tag != best for i in indices)
            continue

        # The value has the wrong type for every member: one error lists the forms.
        indices = [i for group in branches.values() for i in group]
        dropped.update(indices)
        forms = [_describe_form(classified[i][0], classified[i][1][depth]) for i in indices]
        first_steps = classified[indices[0]][1]
        detail = {
            "type": "union_mismatch",
            "loc": site,
            "msg": "Input should be " + ", or ".join(forms),
        }
        merged.append((detail, first_steps[:depth]))

    remaining = [item for index, item in enumerate(classified) if index not in dropped]
    return remaining + merged


def _describe_form(detail: dict[str, Any], tag_step: _Step) -> str:
    """Describe the form one union member expects, for a merged error message."""
    member = tag_step.member
    if _is_model(member):
        keys = ", ".join(member.model_fields)
        return f"a mapping with the key(s) {keys}"
    message: str = detail["msg"]
    return message.removeprefix("Input should be ")


def _locate(
    detail: dict[str, Any],
    steps: list[_Step],
    *,
    path: Path,
    node: yaml.Node,
    field_prefix: str,
) -> SpecError:
    """Walk the node tree along ``loc`` and build the located error."""
    loc = list(detail["loc"])
    error_type = detail["type"]
    message = _message(detail, steps)

    if error_type in ("union_tag_invalid", "union_tag_not_found"):
        # The discriminator key (``kind``) is where the author has to look.
        discriminator = str(detail.get("ctx", {}).get("discriminator", "")).strip("'\"")
        if discriminator:
            loc.append(discriminator)
            steps = [*steps, _Step("key", None)]

    field_parts: list[str] = [field_prefix] if field_prefix else []
    current: yaml.Node | None = node
    mark_node: yaml.Node = node
    mark_key: yaml.Node | None = None
    point_at_key = error_type == "extra_forbidden"
    for element, step in zip(loc, steps, strict=True):
        if step.role == "tag":
            continue
        if step.role == "dict_key":
            point_at_key = True
            continue

        if step.role == "index" and isinstance(element, int):
            field_parts.append(f"[{element}]")
        else:
            field_parts.append(str(element))

        if current is None:
            continue
        key_node, current = _child(current, element)
        if current is not None:
            mark_node, mark_key = current, key_node

    # A key that is not there (missing, or a discriminator never written) is
    # reported at the key of the mapping that lacks it.
    if current is None or point_at_key:
        mark_node = mark_key or mark_node

    mark = mark_node.start_mark
    field = ".".join(field_parts).replace(".[", "[")
    return SpecError(message, path=path, line=mark.line + 1, column=mark.column + 1, field=field)


def _discriminator_values(annotation: Any, discriminator: str) -> list[str]:
    """Return the values the discriminator key may take in a discriminated union."""
    values: list[str] = []
    for member in _union_members(_unwrap(annotation)) or []:
        field = member.model_fields.get(discriminator) if _is_model(member) else None
        if field is None:
            continue
        literal = _unwrap(field.annotation)
        if typing.get_origin(literal) is typing.Literal:
            values.extend(str(value) for value in typing.get_args(literal))
    return values


def _child(node: yaml.Node, element: Any) -> tuple[yaml.Node | None, yaml.Node | None]:
    """Return the (key node, value node) that ``element`` selects in ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(element):
                return key_node, value_node
        return None, None
    if isinstance(node, yaml.SequenceNode) and isinstance(element, int):
        if 0 <= element < len(node.value):
            return None, node.value[element]
    return None, None


def _message(detail: dict[str, Any], steps: list[_Step]) -> str:
    """Return pydantic's message, made specific where pydantic's is generic."""
    error_type = detail["type"]
    message: str = detail["msg"]
    context = detail.get("ctx") or {}

    if error_type == "extra_forbidden" and steps:
        key = str(detail["loc"][-1])
        owner = steps[-1].owner
        if owner is None:
            return f"Unknown key {key!r}."
        allowed = list(owner.model_fields)
        return (
            f"Unknown key {key!r}.{did_you_mean(key, allowed)} Allowed keys: {', '.join(allowed)}."
        )

    if error_type == "union_tag_invalid":
        discriminator = str(context.get("discriminator", "'kind'")).strip("'\"")
        tag = str(context.get("tag", ""))
        expected_text = str(context.get("expected_tags", ""))
        expected = [part.strip().strip("'") for part in expected_text.split(",")]
        return (
            f"Unknown {discriminator} {tag!r}.{did_you_mean(tag, expected)} "
            f"Expected one of: {choices_text(expected)}."
        )

    if error_type == "union_tag_not_found":
        discriminator = str(context.get("discriminator", "'kind'")).strip("'\"")
        tags = _discriminator_values(steps[-1].value_type if steps else None, discriminator)
        expected = f" Expected one of: {choices_text(tags)}." if tags else ""
        return (
            f"Field required: the key {discriminator!r} selects the form of this mapping.{expected}"
        )

    if error_type == "value_error":
        return message.removeprefix(_VALUE_ERROR_PREFIX)

    return message


def error_at(
    node: yaml.Node,
    keys: Sequence[str | int],
    message: str,
    *,
    path: Path,
    at_key: bool = False,
) -> SpecError:
    """Build an error located at the node that ``keys`` select below ``node``.

    With ``at_key``, the error points at the mapping key itself (the line of
    ``membership:`` rather than its value). When a key is absent, the nearest
    node above it is used.
    """
    current: yaml.Node | None = node
    mark_node: yaml.Node = node
    field_parts: list[str] = []
    for key in keys:
        field_parts.append(f"[{key}]" if isinstance(key, int) else str(key))
        if current is None:
            continue
        key_node, current = _child(current, key)
        if current is not None:
            mark_node = key_node if at_key and key_node is not None else current
    mark = mark_node.start_mark
    field = ".".join(field_parts).replace(".[", "[")
    return SpecError(message, path=path, line=mark.line + 1, column=mark.column + 1, field=field)


def node_at(node: yaml.Node, keys: Sequence[str | int]) -> yaml.Node | None:
    """Return the node that ``keys`` select below ``node``, or None when one is absent."""
    current: yaml.Node | None = node
    for key in keys:
        if current is None:
            return None
        _, current = _child(current, key)
    return current
