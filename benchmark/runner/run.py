"""One run: a model, a suite and a cohort in, one result file out.

The stages follow the data flow and each is one step below: resolve the
suite, load the cohort, choose the evaluated patients, load the model, run
every probe through the cached executor, summarize, and write the result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.data.canaries import generate_canaries, training_cohort
from benchmark.probes.base import ProbeContext, ProbeOutcome, suppress_complements
from benchmark.probes.registry import get_probe
from benchmark.results.models import (
    CohortInfo,
    Interval,
    ModelInfo,
    ProbeResult,
    Provenance,
    ReferenceModelInfo,
    Result,
    SuiteInfo,
    Summary,
    TierRisk,
)
from benchmark.results.provenance import hardware, library_versions, software, utc_now
from benchmark.results.writer import check_result_path, write_result
from benchmark.runner.cache import AnswerCache
from benchmark.runner.evaluation import select_evaluation_set
from benchmark.runner.executor import LocalExecutor, ModelCallError
from benchmark.runner.model_checks import (
    DEFAULT_MIN_CODE_COVERAGE,
    check_code_coverage,
    code_coverage,
    describe_adapter,
)
from benchmark.runner.ray_executor import make_executor
from benchmark.scoring.bootstrap import BootstrapConfig, Estimate
from benchmark.scoring.roc import NonFiniteScoresError
from benchmark.scoring.split_guard import (
    SPLIT_SHIFT_FLAG,
    split_guard_auroc,
    split_shift_suspected,
)
from benchmark.scoring.subgroups import select_subgroups

logger = logging.getLogger(__name__)


@dataclass
class RunOptions:
    """Settings of one run that do not change its numbers."""

    cache_dir: Path | None
    batch_size: int = 32
    device: str = "cpu"
    trust_remote_code: bool = False
    progress: bool = True
    extra_spec_dirs: list[Path] = field(default_factory=list)
    #: Where model batches run: ``local`` (this process) or ``ray`` (Ray actors).
    executor: str = "local"
    #: Model id of the reference model for the membership probe's 'reference' attack.
    reference_model: str | None = None
    #: Minimum share of evaluated tokens in the model's (and reference model's) vocabulary, 0-1.
    min_code_coverage: float = DEFAULT_MIN_CODE_COVERAGE
    #: Address of a running Ray cluster; None starts a Ray runtime on this machine.
    ray_address: str | None = None
    #: Ray actors, one model replica each; None means one per GPU, or per CPU.
    workers: int | None = None


def _interval(estimate: Estimate | None) -> Interval:
    if estimate is None:
        return Interval(value=None)
    return Interval(value=estimate.value, ci_low=estimate.ci_low, ci_high=estimate.ci_high)


def _unique_by_id(specs: list) -> list:
    seen: dict[str, object] = {}
    for spec in specs:
        seen.setdefault(spec.id, spec)
    return list(seen.values())


def run_probe(name: str, parameters, context: ProbeContext) -> tuple[ProbeResult, ProbeOutcome]:
    """Run one probe, turning a missing capability or a model fault into a status."""
    probe = get_probe(name)
    dumped = parameters.model_dump(mode="json")
    capabilities = context.model.capabilities
    missing = probe.requires - capabilities
    reason = f"the model cannot {', '.join(sorted(missing))}" if missing else None
    if reason is None and probe.requires_any and not probe.requires_any & capabilities:
        reason = f"the model can do none of: {', '.join(sorted(probe.requires_any))}"
    if reason is not None:
        logger.info("probe %s not applicable: %s", name, reason)
        return ProbeResult(
            probe=name, status="not_applicable", reason=reason, parameters=dumped
        ), ProbeOutcome()

    started = time.perf_counter()
    try:
        outcome = probe.run(context, parameters)
    except (ModelCallError, NonFiniteScoresError) as error:
        logger.error("probe %s failed: %s", name, error)
        return ProbeResult(
            probe=name, status="failed", reason=str(error), parameters=dumped
        ), ProbeOutcome()
    logger.info("probe %s finished in %.1f s", name, time.perf_counter() - started)
    result = ProbeResult(
        probe=name,
        status="ok",
        parameters=dumped,
        headline=outcome.headline,
        headline_attack=outcome.headline_attack,
        metrics=suppress_complements(outcome.metrics),
        roc_curves=outcome.roc_curves,
    )
    return result, outcome


def run_suite(
    model_id: str,
    suite_reference: str,
    cohort_reference: str | None,
    output: Path,
    options: RunOptions,
) -> Result:
    """Run a suite on a model and a cohort and write the result to ``output``."""
    from benchmark.data.loading import load_cohort
    from benchmark.models.registry import ModelContext, load_model
    from benchmark.specs.registry import SpecRegistry
    from benchmark.specs.resources import default_specs_dir

    started_at, started = utc_now(), time.perf_counter()
    check_result_path(output)
    # Opened before any other work, so an unusable cache folder is reported at once.
    cache = AnswerCache(options.cache_dir) if options.cache_dir else None

    # 1. Specs: the suite and everything it references, with digests.
    registry = SpecRegistry.load([default_specs_dir(), *options.extra_spec_dirs])
    suite = registry.resolve_suite(suite_reference)
    spec = suite.spec
    logger.info("suite %s v%d (%s)", spec.id, spec.version, suite.digest)

    # 2. Cohort and the evaluated patients.
    cohort = load_cohort(cohort_reference)
    evaluation = select_evaluation_set(
        cohort, spec.cohort.max_sequence_length, spec.cohort.max_patients_per_group, spec.seed
    )
    logger.info(
        "cohort %s (%s): evaluating %d members and %d non-members",
        cohort.name,
        cohort.fingerprint,
        evaluation.n_members,
        evaluation.n_non_members,
    )

    # 3. Model, fitted on the suite's training set (members and canaries) where it
    # is a built-in reference model.
    canaries = (
        None
        if spec.canaries is None
        else generate_canaries(cohort, spec.canaries, spec.cohort.max_sequence_length)
    )
    model_context = ModelContext(
        cohort=training_cohort(cohort, canaries),
        max_sequence_length=spec.cohort.max_sequence_length,
        device=options.device,
        trust_remote_code=options.trust_remote_code,
        batch_size=options.batch_size,
        progress=options.progress,
    )
    model = load_model(model_id, model_context)
    described = describe_adapter(model, model_id)
    model_digest = described.digest
    coverage = code_coverage(described.vocabulary, evaluation.sequences)
    logger.info("model %s (%s), code coverage %.3f", model_id, model_digest, coverage.share)
    check_code_coverage(coverage, options.min_code_coverage, model_id)

    reference_executor = None
    if options.reference_model is not None:
        reference = load_model(options.reference_model, model_context)
        reference_description = describe_adapter(reference, options.reference_model)
        reference_coverage = code_coverage(reference_description.vocabulary, evaluation.sequences)
        logger.info(
            "reference model %s (%s), code coverage %.3f",
            options.reference_model,
            reference_description.digest,
            reference_coverage.share,
        )
        check_code_coverage(reference_coverage, options.min_code_coverage, options.reference_model)
        reference_executor = LocalExecutor(
            reference, cache, batch_size=options.batch_size, progress=options.progress
        )

    # 4. Probes, through one cached executor (local, or model replicas on Ray).
    bootstrap = BootstrapConfig(spec.bootstrap.resamples, spec.bootstrap.confidence, spec.seed)
    probe_results, summary_entries, tier_risk = [], {}, {}
    with make_executor(
        options.executor,
        model,
        cache,
        model_id=model_id,
        model_context=model_context,
        batch_size=options.batch_size,
        progress=options.progress,
        ray_address=options.ray_address,
        workers=options.workers,
    ) as executor:
        context = ProbeContext(
            suite=suite,
            model=model,
            executor=executor,
            sequences=evaluation.sequences,
            is_member=evaluation.is_member,
            subgroups=select_subgroups(
                suite.subgroups,
                _unique_by_id([*suite.attributes, *suite.subgroup_attributes]),
                evaluation.sequences,
                evaluation.population,
            ),
            bootstrap=bootstrap,
            seed=spec.seed,
            reference_executor=reference_executor,
            canaries=canaries,
        )
        for name, parameters in suite.probe_parameters.items():
            result, outcome = run_probe(name, parameters, context)
            probe_results.append(result)
            summary_entries.update(outcome.summary)
            tier_risk.update(outcome.tier_risk)

    # The split guard never queries the model: it judges the data alone.
    summary_entries["split_guard_auroc"] = split_guard_auroc(
        evaluation.sequences, evaluation.is_member, bootstrap
    )
    flags = [f"probe_{r.status}:{r.probe}" for r in probe_results if r.status != "ok"]
    if split_shift_suspected(summary_entries["split_guard_auroc"]):
        logger.warning(
            "the split guard tells members from non-members without the model (AUROC %.3f): "
            "membership numbers are not valid for this split",
            summary_entries["split_guard_auroc"].value,
        )
        flags.insert(0, SPLIT_SHIFT_FLAG)
        for probe_result in probe_results:
            if probe_result.probe == "membership":
                probe_result.valid = False
    if cache is not None:
        cache.close()
    for method, stats in executor.statistics.methods.items():
        logger.info(
            "%s: %d requests, %d unique, %d served from cache, %d computed in %.1f s",
            method,
            stats.requested,
            stats.unique,
            stats.from_cache,
            stats.computed,
            stats.model_seconds,
        )

    # 5. Result: summary, provenance, and the validated, atomic write.
    result = Result(
        model=ModelInfo(
            id=model_id,
            digest=model_digest,
            capabilities=sorted(described.capabilities),
            vocabulary_size=len(described.vocabulary),
            cohort_code_coverage=round(coverage.share, 6),
            unknown_codes=coverage.unknown_codes,
        ),
        suite=SuiteInfo(
            name=spec.id, version=spec.version, digest=suite.digest, spec_digests=suite.spec_digests
        ),
        cohort=CohortInfo(
            name=cohort.name,
            fingerprint=cohort.fingerprint,
            members=evaluation.members_available,
            non_members=evaluation.non_members_available,
            evaluated_members=evaluation.n_members,
            evaluated_non_members=evaluation.n_non_members,
            max_sequence_length=spec.cohort.max_sequence_length,
        ),
        provenance=Provenance(
            **software(),
            library_versions=library_versions(),
            hardware=hardware(options.device),
            started_at=started_at,
            finished_at=utc_now(),
            duration_seconds=round(time.perf_counter() - started, 3),
            seeds={
                "suite": spec.seed,
                "bootstrap": spec.seed,
                "split": int(cohort.metadata.get("split_seed", 0) or 0),
            },
            bootstrap_resamples=spec.bootstrap.resamples,
            confidence=spec.bootstrap.confidence,
            requests=executor.statistics.as_dict(),
        ),
        summary=Summary(
            **{name: _interval(summary_entries.get(name)) for name in Summary.model_fields}
        ),
        flags=flags,
        risk_by_tier=[
            TierRisk(tier=t.id, severity=t.severity, risk_index=_interval(tier_risk.get(t.id)))
            for t in suite.tiers
        ],
        probes=probe_results,
        reference_model=None
        if reference_executor is None
        else ReferenceModelInfo(
            id=options.reference_model, digest=reference_executor.model.digest()
        ),
    )
    write_result(result, output)
    logger.info("wrote %s", output)
    return result


def summary_value(estimate: Interval) -> float:
    """Return an interval's value, NaN when missing (for sorting and tables)."""
    return np.nan if estimate.value is None else estimate.value
