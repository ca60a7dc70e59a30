"""Membership scoring: clinmem's batched forward pass against per-prefix scoring.

clinmem scores a sequence in one forward pass: the causal mask gives every
position's next-code distribution at once, and sequences go through the model
in batches. The per-prefix method runs the model once per prefix and
recomputes the whole prefix each time. For t in 1..T it runs the model on
tokens[:t] and keeps the last position's log-probability of tokens[t]. This is
how the code released with Tonekaboni et al., "An Investigation of
Memorization Risk in Healthcare Foundation Models" (NeurIPS 2025), is
described to score sequences; that code was not at hand to compare line by
line. Both methods must give the same per-token log-probabilities, so the
script checks that to 1e-5 before it prints the speed ratio.

The per-prefix method needs T forward passes per sequence, so it is timed on a
subset (``--baseline-sequences``) and scaled per sequence.

Run from the repository root::

    python -m benchmarks.membership_scoring --model-dir DIR
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import (
    base_parser,
    configure_logging,
    ensure_reference_gpt,
    load_reference_adapter,
    print_header,
    print_ratio,
    time_best_of,
)

GOAL_SPEEDUP = 50.0
TOLERANCE = 1e-5


def long_sequences(count: int, length: int, seed: int = 0) -> list[tuple[str, ...]]:
    """Return ``count`` sequences of exactly ``length`` codes from the bundled cohort.

    Patients whose sequence is at least ``length`` tokens long are cut to
    ``length``. When the cohort has fewer such patients than ``count``, the
    rest are random codes drawn from the cohort's token vocabulary.
    """
    from benchmark.data.loading import load_cohort
    from benchmark.data.sequence import build_sequence

    cohort = load_cohort("synthea-1k")
    candidates = [build_sequence(patient, length).tokens for patient in cohort.patients]
    full = [tokens for tokens in candidates if len(tokens) == length][:count]

    rng = np.random.default_rng(seed)
    vocabulary = sorted({code for tokens in candidates for code in tokens})
    while len(full) < count:
        full.append(tuple(vocabulary[i] for i in rng.integers(len(vocabulary), size=length)))
    return full


def per_prefix_log_probabilities(model, bos_id: int, token_ids: list[int]) -> np.ndarray:
    """Score one sequence with one forward pass per prefix, each prefix recomputed in full."""
    import torch

    ids = [bos_id, *token_ids]
    values = np.empty(len(token_ids))
    with torch.inference_mode():
        for t in range(1, len(ids)):
            prefix = torch.tensor([ids[:t]])
            logits = model(input_ids=prefix).logits[0, -1].float()
            values[t - 1] = torch.log_softmax(logits, dim=-1)[ids[t]].item()
    return values


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=200, help="sequences scored (200)")
    parser.add_argument("--length", type=int, default=256, help="codes per sequence (256)")
    parser.add_argument(
        "--baseline-sequences",
        type=int,
        default=10,
        help="sequences the per-prefix method is timed on, scaled per sequence (10)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="clinmem's batch size (32)")
    arguments = parser.parse_args()
    configure_logging()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = ensure_reference_gpt(arguments.model_dir)
    print_header("membership scoring: one batched pass vs one pass per prefix", model_dir)
    sequences = long_sequences(arguments.sequences, arguments.length)
    adapter = load_reference_adapter(model_dir, arguments.batch_size)

    # The per-prefix method runs the same weights, loaded directly with transformers.
    model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # GPT-2 style tokenizers use the EOS token as BOS, as clinmem's adapter does.
    bos_id = tokenizer.bos_token_id
    if bos_id is None:
        bos_id = tokenizer.eos_token_id
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{len(sequences)} sequences of {arguments.length} codes")

    clinmem_timing, clinmem_scores = time_best_of(
        lambda: adapter.score(sequences), arguments.repeats
    )

    subset = sequences[: arguments.baseline_sequences]
    subset_ids = [tokenizer.convert_tokens_to_ids(list(tokens)) for tokens in subset]
    baseline_timing, baseline_scores = time_best_of(
        lambda: [per_prefix_log_probabilities(model, bos_id, ids) for ids in subset_ids],
        arguments.repeats,
    )

    difference = max(
        float(np.max(np.abs(ours - theirs)))
        for ours, theirs in zip(clinmem_scores, baseline_scores, strict=False)
    )
    print(f"max |log p difference| over {len(subset)} sequences: {difference:.2e}")
    assert difference <= TOLERANCE, f"log-probabilities differ by {difference} > {TOLERANCE}"

    clinmem_per_sequence = clinmem_timing.best / len(sequences)
    baseline_per_sequence = baseline_timing.best / len(subset)
    print(
        f"clinmem: {len(sequences)} sequences, {clinmem_timing.describe()}, "
        f"{clinmem_per_sequence * 1e3:.2f} ms per sequence"
    )
    print(
        f"per-prefix: timed on {len(subset)} of the {len(sequences)} sequences and scaled per "
        f"sequence, {baseline_timing.describe()}, {baseline_per_sequence * 1e3:.1f} ms per "
        f"sequence, so about {baseline_per_sequence * len(sequences):.1f} s for all "
        f"{len(sequences)} (estimate)"
    )
    print_ratio("speedup of clinmem", baseline_per_sequence / clinmem_per_sequence, GOAL_SPEEDUP)


if __name__ == "__main__":
    main()
