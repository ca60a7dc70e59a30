"""Read one spec file: safe YAML within fixed limits, then its pydantic model.

A spec file is UTF-8 YAML holding one mapping whose ``kind`` key names the
spec kind (``attribute``, ``tier``, ``subgroup``, ``suite``). The file is
composed into a node tree with PyYAML's safe loader, so tags that would build
Python objects are rejected, and every node keeps its line and column for
error messages. The limits below keep a hostile or broken file from using
unbounded memory or time; ``docs/specs.md`` states them for spec authors.

Every problem is raised as a ``SpecError`` (several at once as
``SpecErrors``) carrying the file, line, column and field.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from benchmark.specs.errors import SpecError, SpecErrors, choices_text, did_you_mean
from benchmark.specs.locations import validation_errors
from benchmark.specs.models import (
    SPEC_MODELS,
    AttributeSpec,
    SubgroupSpec,
    SuiteSpec,
    TierSpec,
)

logger = logging.getLogger(__name__)

#: Maximum size of a spec file, in bytes (1 MiB).
MAX_FILE_BYTES = 1024 * 1024
#: Maximum number of YAML aliases (``*name``) in one file, because aliases can
#: multiply a small file.
MAX_ALIASES = 100
#: Maximum nesting depth of mappings and sequences, counting the top-level mapping as 1.
MAX_DEPTH = 32
#: Maximum number of nodes in the document once every alias is expanded. Without
#: this limit, 100 aliases arranged in 10 levels of 10 describe 10**10 nodes.
MAX_NODES = 100_000

SPEC_SUFFIXES = (".yaml", ".yml")

Spec = AttributeSpec | TierSpec | SubgroupSpec | SuiteSpec

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with the file it came from and its YAML node tree.

    The node tree lets later checks, such as a suite's references to other
    specs, report the line of the exact list item or key.
    """

    spec: Spec
    path: Path
    node: yaml.MappingNode

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def id(self) -> str:
        return self.spec.id


class _LimitExceeded(yaml.MarkedYAMLError):
    """A file passed a documented limit; carries the mark of the offending node."""


class _SpecComposer(yaml.SafeLoader):
    """The safe loader, counting aliases and nesting while it composes nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_count = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _LimitExceeded(
                    problem=f"the file has more than {MAX_ALIASES} YAML aliases; "
                    "write the values out instead of repeating them by alias",
                    problem_mark=mark,
                )
            return super().compose_node(parent, index)

        is_collection = self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent)
        if is_collection:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _LimitExceeded(
                    problem=f"mappings and sequences nest deeper than {MAX_DEPTH} levels",
                    problem_mark=mark,
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if is_collection:
                self.depth -= 1


def load_spec_file(path: Path) -> LoadedSpec:
    """Read, parse and validate one spec file.

    Raises ``SpecError`` with the line, column and field of the problem, or
    ``SpecErrors`` when validation finds several.
    """
    composer, node = _compose(path)
    try:
        data = composer.construct_document(node)
    except yaml.YAMLError as error:
        raise _yaml_error(error, path, "") from None
    finally:
        composer.dispose()

    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        found = _node_kind_name(node)
        raise _error_at_node(
            f"A spec file contains one mapping with a 'kind' key, but this file contains {found}.",
            path,
            node,
        )

    kind = data.get("kind")
    if kind is None:
        raise _error_at_node(
            f"Field required: 'kind' names the spec kind, one of {choices_text(SPEC_MODELS)}.",
            path,
            node,
            field="kind",
        )
    if not isinstance(kind, str) or kind not in SPEC_MODELS:
        kind_node = _value_node(node, "kind") or node
        raise _error_at_node(
            f"Unknown spec kind {kind!r}.{did_you_mean(str(kind), SPEC_MODELS)} "
            f"Expected one of: {choices_text(SPEC_MODELS)}.",
            path,
            kind_node,
            field="kind",
        )

    model = SPEC_MODELS[kind]
    try:
        spec = model.model_validate(data)
    except ValidationError as error:
        raise SpecErrors(validation_errors(error, model=model, path=path, node=node)) from None
    return LoadedSpec(spec=spec, path=path, node=node)  # type: ignore[arg-type]


def _compose(path: Path) -> tuple[_SpecComposer, yaml.Node]:
    """Read the file within the limits and compose its single YAML document."""
    text = _read_text(path)
    try:
        # The reader rejects characters YAML forbids as soon as it is created.
        composer = _SpecComposer(text)
    except yaml.YAMLError as error:
        raise _yaml_error(error, path, text) from None

    try:
        if not composer.check_node():
            raise SpecError(
                "The file contains no YAML document (it is empty or only comments). A spec "
                "file contains one mapping with a 'kind' key.",
                path=path,
                line=1,
                column=1,
            )
        node = composer.get_node()
        if composer.check_node():
            mark = composer.peek_event().start_mark
            raise SpecError(
                "The file contains more than one YAML document. Put each spec in its own file.",
                path=path,
                line=mark.line + 1,
                column=mark.column + 1,
            )
        _check_expanded_tree(node, path)
    except yaml.YAMLError as error:
        composer.dispose()
        raise _yaml_error(error, path, text) from None
    except SpecError:
        composer.dispose()
        raise
    return composer, node


def _read_text(path: Path) -> str:
    """Read at most ``MAX_FILE_BYTES`` bytes and decode them as UTF-8."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise SpecError(f"Cannot read the file: {error.strerror or error}.", path=path) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(
            f"The file is larger than the limit of {MAX_FILE_BYTES} bytes (1 MiB) for a spec file.",
            path=path,
        )

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise SpecError(
            f"The file is not valid UTF-8: byte 0x{raw[error.start]:02x} at byte offset "
            f"{error.start} ({error.reason}). Save the file as UTF-8.",
            path=path,
            line=line,
            column=column,
        ) from None
    return text.removeprefix("\ufeff")


def _check_expanded_tree(root: yaml.Node, path: Path) -> None:
    """Reject recursive aliases, duplicate keys, and trees too big or deep once expanded.

    Each distinct node is measured once (aliases share node objects), so a
    file that would expand to billions of nodes is measured in linear time.
    """
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, height)
    in_progress: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in in_progress:
            raise _LimitExceeded(
                problem="an alias refers to a node that contains it (a recursive structure)",
                problem_mark=node.start_mark,
            )
        is_collection = not isinstance(node, yaml.ScalarNode)
        if is_collection and depth > MAX_DEPTH:
            raise _too_deep(node)

        if key not in measured:
            in_progress.add(key)
            measured[key] = measure_children(node, depth) if is_collection else (1, 0)
            in_progress.discard(key)
        size, height = measured[key]

        if size > MAX_NODES:
            raise _LimitExceeded(
                problem=f"the document has more than {MAX_NODES} nodes once aliases are expanded",
                problem_mark=node.start_mark,
            )
        if depth + height - 1 > MAX_DEPTH:
            raise _too_deep(node)
        return size, height

    def measure_children(node: yaml.Node, depth: int) -> tuple[int, int]:
        if isinstance(node, yaml.MappingNode):
            _check_duplicate_keys(node, path)
            children = [child for pair in node.value for child in pair]
        else:
            children = list(node.value)

        size, height = 1, 0
        for child in children:
            child_size, child_height = measure(child, depth + 1)
            size += child_size
            height = max(height, child_height)
        return size, height + 1

    measure(root, 1)


def _too_deep(node: yaml.Node) -> _LimitExceeded:
    return _LimitExceeded(
        problem=f"mappings and sequences nest deeper than {MAX_DEPTH} levels "
        "once aliases are expanded",
        problem_mark=node.start_mark,
    )


def _check_duplicate_keys(node: yaml.MappingNode, path: Path) -> None:
    seen: dict[str, yaml.Node] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        first = seen.setdefault(key_node.value, key_node)
        if first is not key_node:
            raise _LimitExceeded(
                problem=f"duplicate key {key_node.value!r}; it first appears on line "
                f"{first.start_mark.line + 1}",
                problem_mark=key_node.start_mark,
            )


def _yaml_error(error: yaml.YAMLError, path: Path, text: str) -> SpecError:
    """Turn any PyYAML error into a located ``SpecError``."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        problem = error.problem or "invalid YAML"
        if error.context:
            problem = f"{error.context}, {problem}"
        message = problem[0].upper() + problem[1:] + "."
        if mark is None:
            return SpecError(message, path=path)
        return SpecError(message, path=path, line=mark.line + 1, column=mark.column + 1)

    if isinstance(error, yaml.reader.ReaderError):
        # Raised for control characters YAML does not allow; ``position`` is a
        # character offset into the decoded text.
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        character = error.character
        code = ord(character) if isinstance(character, str) else character
        return SpecError(
            f"The character U+{code:04X} is not allowed in YAML; remove it.",
            path=path,
            line=line,
            column=column,
        )

    return SpecError(f"Invalid YAML: {error}", path=path)


def _value_node(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _node_kind_name(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping that is not a plain mapping of keys"
    if node.tag.endswith(":null"):
        return "only null"
    return f"the scalar {node.value!r}"


def _error_at_node(message: str, path: Path, node: yaml.Node, *, field: str = "") -> SpecError:
    mark = node.start_mark
    return SpecError(message, path=path, line=mark.line + 1, column=mark.column + 1, field=field)
