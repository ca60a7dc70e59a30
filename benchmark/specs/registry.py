"""The registry of specs: every spec in a set of folders, by kind and id.

Usage::

    registry = SpecRegistry.load()                  # the default specs/ folder
    suite = registry.resolve_suite("standard")      # or a path to a suite YAML file
    suite.digest                                    # 'sha256:…', cited with the score

Loading reads every ``*.yaml`` and ``*.yml`` file below the folders and
validates each against its kind's model. It then checks the references
between files. Ids are unique within a kind, a suite names only attributes,
tiers, subgroups and probes that exist, its probe parameters are valid, and
an ``attribute_carriers`` subgroup names an existing attribute. Every problem
found is reported, each at its file and line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from benchmark.probes.parameters import PROBE_PARAMETERS
from benchmark.specs.errors import (
    SpecError,
    SpecErrors,
    choices_text,
    did_you_mean,
    display_path,
)
from benchmark.specs.loader import SPEC_SUFFIXES, LoadedSpec, load_spec_file
from benchmark.specs.locations import error_at, node_at, validation_errors
from benchmark.specs.models import (
    SPEC_MODELS,
    AttributeCarriers,
    AttributeSpec,
    SubgroupSpec,
    SuiteSpec,
    TierSpec,
)
from benchmark.specs.resources import default_specs_dir, is_spec_folder

logger = logging.getLogger(__name__)

#: Spec kinds in the order they are listed and validated.
KINDS: tuple[str, ...] = tuple(SPEC_MODELS)

#: The suite field that lists the ids of each kind a suite references.
SUITE_REFERENCE_FIELDS = {"attributes": "attribute", "tiers": "tier", "subgroups": "subgroup"}


@dataclass(frozen=True)
class ResolvedSuite:
    """A suite with every spec it references, validated, and its digests.

    ``digest`` is ``sha256:<hex>`` of the canonical JSON (sorted keys, no
    whitespace) of the suite, every spec it references and its validated
    probe parameters, defaults filled in. It changes when any of them changes
    meaning, and not when a comment, the key order or an unrelated spec file
    changes.
    """

    spec: SuiteSpec
    attributes: list[AttributeSpec]
    tiers: list[TierSpec]
    subgroups: list[SubgroupSpec]
    #: Probe name to its validated parameter model.
    probe_parameters: dict[str, BaseModel]
    digest: str
    #: ``"<kind>/<id>"`` (e.g. ``"attribute/hiv"``) to the digest of that spec alone.
    spec_digests: dict[str, str]
    #: Attributes named by ``attribute_carriers`` subgroups, which may lie
    #: outside ``attributes``; keyed by id.
    subgroup_attributes: dict[str, AttributeSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidationReport:
    """Result of ``validate_spec_paths``: the files checked and the errors found."""

    #: Spec files found below the paths given (default specs not counted).
    files: list[Path]
    #: Files among them that hold a valid spec.
    valid_specs: int
    errors: list[SpecError]


class SpecRegistry:
    """All specs loaded from a set of files and folders, indexed by kind and id."""

    def __init__(self, loaded: Iterable[LoadedSpec], *, paths: Sequence[Path] = ()) -> None:
        """Index validated specs and check their references; ``load`` is the usual way in.

        The first spec of each (kind, id) is kept. ``reference_errors`` lists
        the references that failed; a suite with such errors cannot be resolved.
        """
        self.paths: tuple[Path, ...] = tuple(paths)
        self._loaded: dict[str, dict[str, LoadedSpec]] = {kind: {} for kind in KINDS}
        for item in loaded:
            self._loaded[item.kind].setdefault(item.id, item)
        self._probe_parameters: dict[str, dict[str, BaseModel]] = {}
        self.reference_errors: list[SpecError] = self._check_references()

    @classmethod
    def load(cls, directories: Sequence[Path] | None = None) -> SpecRegistry:
        """Load every spec below the folders (default: the bundled ``specs/`` folder).

        A path may also be a single spec file. Raises ``SpecErrors`` listing
        every problem in every file.
        """
        registry, errors = cls.collect(directories)
        if errors:
            raise SpecErrors(errors)
        return registry

    @classmethod
    def collect(
        cls, directories: Sequence[Path] | None = None
    ) -> tuple[SpecRegistry, list[SpecError]]:
        """Load what is valid below the folders and return it with every error found."""
        started = time.perf_counter()
        paths = [default_specs_dir()] if directories is None else list(directories)
        files, errors = _find_spec_files(paths)

        loaded: list[LoadedSpec] = []
        for path in files:
            try:
                loaded.append(load_spec_file(path))
            except SpecError as error:
                errors.extend(error.errors)

        errors.extend(_duplicate_id_errors(loaded))
        registry = cls(loaded, paths=paths)
        errors.extend(registry.reference_errors)
        logger.debug(
            "Loaded %d specs from %d files in %.3f s with %d errors",
            len(loaded),
            len(files),
            time.perf_counter() - started,
            len(errors),
        )
        return registry, sorted(errors, key=SpecError.sort_key)

    @property
    def attributes(self) -> dict[str, AttributeSpec]:
        return {id_: item.spec for id_, item in self._loaded["attribute"].items()}  # type: ignore[misc]

    @property
    def tiers(self) -> dict[str, TierSpec]:
        return {id_: item.spec for id_, item in self._loaded["tier"].items()}  # type: ignore[misc]

    @property
    def subgroups(self) -> dict[str, SubgroupSpec]:
        return {id_: item.spec for id_, item in self._loaded["subgroup"].items()}  # type: ignore[misc]

    @property
    def suites(self) -> dict[str, SuiteSpec]:
        return {id_: item.spec for id_, item in self._loaded["suite"].items()}  # type: ignore[misc]

    def specs(self, kind: str) -> dict[str, BaseModel]:
        """Return the specs of one kind, by id."""
        return {id_: item.spec for id_, item in self._loaded[_check_kind(kind)].items()}

    def source(self, kind: str, spec_id: str) -> Path:
        """Return the file that defines the spec."""
        return self._lookup(kind, spec_id).path

    def resolve_suite(self, name_or_path: str) -> ResolvedSuite:
        """Return the suite named by id, or read from a suite YAML file, with its specs.

        A file is loaded together with this registry's specs and, when the
        file lies in a spec folder (``<folder>/suites/<file>``), the rest of
        that folder. Raises ``SpecError`` for an unknown id and ``SpecErrors``
        for problems in the files.
        """
        path = Path(name_or_path)
        looks_like_path = path.suffix in SPEC_SUFFIXES or len(path.parts) > 1
        if not looks_like_path:
            return self._resolve(self._lookup("suite", name_or_path).spec.id)

        if not path.is_file():
            raise SpecError(
                f"The suite file {name_or_path!r} was not found. Give a suite id "
                f"({choices_text(self.suites)}) or the path of a suite YAML file."
            )
        registry = SpecRegistry.load([*self.paths, _suite_folder(path)])
        for item in registry._loaded["suite"].values():
            if item.path.resolve() == path.resolve():
                return registry._resolve(item.id)
        loaded = load_spec_file(path)
        message = f"The file contains a spec of kind {loaded.kind!r}, not a suite."
        raise error_at(loaded.node, ["kind"], message, path=path)

    def _lookup(self, kind: str, spec_id: str) -> LoadedSpec:
        specs = self._loaded[_check_kind(kind)]
        if spec_id in specs:
            return specs[spec_id]
        raise SpecError(
            f"Unknown {kind} {spec_id!r}.{did_you_mean(spec_id, specs)} "
            f"Known {kind} ids: {choices_text(specs) or 'none'}."
        )

    def _resolve(self, suite_id: str) -> ResolvedSuite:
        suite: SuiteSpec = self._loaded["suite"][suite_id].spec  # type: ignore[assignment]
        if suite_id not in self._probe_parameters:
            raise SpecError(
                f"The suite {suite_id!r} has errors; run 'clinmem specs validate' on its file.",
                path=self.source("suite", suite_id),
            )
        attributes = [self.attributes[id_] for id_ in suite.attributes]
        tiers = [self.tiers[id_] for id_ in suite.tiers]
        subgroups = [self.subgroups[id_] for id_ in suite.subgroups]
        subgroup_attributes = {
            subgroup.rule.attribute: self.attributes[subgroup.rule.attribute]
            for subgroup in subgroups
            if isinstance(subgroup.rule, AttributeCarriers) and subgroup.rule.attribute
        }
        probe_parameters = dict(self._probe_parameters[suite_id])

        referenced: list[BaseModel] = [
            suite,
            *attributes,
            *tiers,
            *subgroups,
            *subgroup_attributes.values(),
        ]
        spec_jsons = {
            f"{spec.kind}/{spec.id}": spec.model_dump(mode="json")  # type: ignore[attr-defined]
            for spec in referenced
        }
        parameter_jsons = {
            name: parameters.model_dump(mode="json")
            for name, parameters in probe_parameters.items()
        }
        return ResolvedSuite(
            spec=suite,
            attributes=attributes,
            tiers=tiers,
            subgroups=subgroups,
            probe_parameters=probe_parameters,
            digest=content_digest({"specs": spec_jsons, "probe_parameters": parameter_jsons}),
            spec_digests={key: content_digest(value) for key, value in sorted(spec_jsons.items())},
            subgroup_attributes=subgroup_attributes,
        )

    def _check_references(self) -> list[SpecError]:
        """Check every reference between specs and validate every suite's probe parameters."""
        errors: list[SpecError] = []
        attribute_ids = self._loaded["attribute"]

        for item in self._loaded["subgroup"].values():
            rule = item.spec.rule  # type: ignore[attr-defined]
            if isinstance(rule, AttributeCarriers) and rule.attribute is not None:
                if rule.attribute not in attribute_ids:
                    errors.append(
                        error_at(
                            item.node,
                            ["rule", "attribute"],
                            _unknown_reference("attribute", rule.attribute, attribute_ids),
                            path=item.path,
                        )
                    )

        for item in self._loaded["suite"].values():
            errors.extend(self._check_suite(item))
        return errors

    def _check_suite(self, item: LoadedSpec) -> list[SpecError]:
        suite: SuiteSpec = item.spec  # type: ignore[assignment]
        errors: list[SpecError] = []
        for field_name, kind in SUITE_REFERENCE_FIELDS.items():
            known = self._loaded[kind]
            for index, spec_id in enumerate(getattr(suite, field_name)):
                if spec_id not in known:
                    message = _unknown_reference(kind, spec_id, known)
                    errors.append(error_at(item.node, [field_name, index], message, path=item.path))

        parameters: dict[str, BaseModel] = {}
        for probe, values in suite.probes.items():
            model = PROBE_PARAMETERS.get(probe)
            if model is None:
                message = _unknown_reference("probe", probe, PROBE_PARAMETERS)
                errors.append(
                    error_at(item.node, ["probes", probe], message, path=item.path, at_key=True)
                )
                continue
            try:
                parameters[probe] = model.model_validate(values)
            except ValidationError as error:
                probe_node = node_at(item.node, ["probes", probe]) or item.node
                errors.extend(
                    validation_errors(
                        error,
                        model=model,
                        path=item.path,
                        node=probe_node,
                        field_prefix=f"probes.{probe}",
                    )
                )
        if not errors:
            self._probe_parameters[suite.id] = parameters
        return errors


def validate_spec_paths(paths: Sequence[Path]) -> ValidationReport:
    """Validate the spec files below ``paths`` together with the default specs.

    Suites may reference specs from either place. Errors in the default specs
    are reported as well, since the paths' suites depend on them.
    """
    requested, _ = _find_spec_files(paths)
    _, errors = SpecRegistry.collect([default_specs_dir(), *paths])
    failed = {error.path.resolve() for error in errors if error.path is not None}
    valid = sum(1 for path in requested if path.resolve() not in failed)
    return ValidationReport(files=requested, valid_specs=valid, errors=errors)


def content_digest(value: Any) -> str:
    """Return ``sha256:<hex>`` of the canonical JSON of ``value``.

    >>> content_digest({"b": 1, "a": [1.5, "x"]}) == content_digest({"a": [1.5, "x"], "b": 1})
    True
    """
    canonical = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_kind(kind: str) -> str:
    if kind not in SPEC_MODELS:
        raise SpecError(
            f"Unknown spec kind {kind!r}.{did_you_mean(kind, SPEC_MODELS)} "
            f"Expected one of: {choices_text(SPEC_MODELS)}."
        )
    return kind


def _unknown_reference(kind: str, spec_id: str, known: Iterable[str]) -> str:
    known = list(known)
    return (
        f"Unknown {kind} {spec_id!r}.{did_you_mean(spec_id, known)} "
        f"Known {kind} ids: {choices_text(known) or 'none'}."
    )


def _suite_folder(path: Path) -> Path:
    """Return the spec folder a suite file lies in, or the file itself when it lies in none."""
    parent = path.resolve().parent
    for candidate in (parent.parent, parent):
        if is_spec_folder(candidate):
            return candidate
    return path


def _find_spec_files(paths: Sequence[Path]) -> tuple[list[Path], list[SpecError]]:
    """Return the spec files below ``paths``, each once, and an error per unusable path."""
    files: list[Path] = []
    seen: set[Path] = set()
    errors: list[SpecError] = []
    for path in paths:
        if path.is_file():
            found = [path]
        elif path.is_dir():
            found = sorted(
                candidate
                for candidate in path.rglob("*")
                if candidate.suffix in SPEC_SUFFIXES
                and candidate.is_file()
                and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
            )
            if not found:
                errors.append(
                    SpecError(
                        "The folder contains no spec files (*.yaml or *.yml).",
                        path=path,
                    )
                )
        else:
            errors.append(SpecError("No such file or folder.", path=path))
            continue

        for candidate in found:
            resolved = candidate.resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(candidate)
    return files, errors


def _duplicate_id_errors(loaded: Sequence[LoadedSpec]) -> list[SpecError]:
    first_by_key: dict[tuple[str, str], LoadedSpec] = {}
    errors: list[SpecError] = []
    for item in loaded:
        first = first_by_key.setdefault((item.kind, item.id), item)
        if first is item:
            continue
        errors.append(
            error_at(
                item.node,
                ["id"],
                f"Duplicate {item.kind} id {item.id!r}: {display_path(first.path)} defines it "
                "too. "
                f"Ids are unique within a kind; rename one of them.",
                path=item.path,
            )
        )
    return errors
