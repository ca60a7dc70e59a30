"""Sampling: clinmem's batched KV-cached loop against one ``model.generate`` call per sample.

clinmem samples every continuation of many prompts in one batch, with one
key-value cache for the batch (``benchmark.models.sampling``). The common
alternative calls Hugging Face's ``model.generate(do_sample=True,
max_new_tokens=...)`` once per patient and per sample, one prompt and one
sample per call. Both run the same model on the same prompts with the same
number of samples and new tokens. The script reports generated tokens per
second for each, and their ratio.

The per-call loop is timed on the first ``--baseline-prompts`` prompts; tokens
per second is a rate, so the subset gives the same rate as the whole set.

Run from the repository root::

    python -m benchmarks.generation --model-dir DIR
"""

from __future__ import annotations

from benchmarks.common import (
    base_parser,
    configure_logging,
    ensure_reference_gpt,
    load_reference_adapter,
    print_header,
    print_ratio,
    time_best_of,
)


def prompts_from_cohort(count: int, prompt_length: int) -> list[tuple[str, ...]]:
    """Return the first ``prompt_length`` codes of the first ``count`` long-enough patients."""
    from benchmark.data.loading import load_cohort
    from benchmark.data.sequence import build_sequence

    cohort = load_cohort("synthea-1k")
    prompts = []
    for patient in cohort.patients:
        tokens = build_sequence(patient, prompt_length).tokens
        if len(tokens) == prompt_length:
            prompts.append(tokens)
        if len(prompts) == count:
            return prompts
    raise SystemExit(f"the cohort has fewer than {count} patients with {prompt_length} codes")


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32, help="patients prompted (32)")
    parser.add_argument("--prompt-length", type=int, default=64, help="codes per prompt (64)")
    parser.add_argument("--samples", type=int, default=8, help="samples per prompt (8)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="new codes per sample (48)")
    parser.add_argument(
        "--baseline-prompts",
        type=int,
        default=4,
        help="prompts the per-call loop is timed on (4)",
    )
    arguments = parser.parse_args()
    configure_logging()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from benchmark.models.base import GenerationRequest

    model_dir = ensure_reference_gpt(arguments.model_dir)
    print_header("generation: batched KV-cached sampling vs one generate() per sample", model_dir)
    prompts = prompts_from_cohort(arguments.prompts, arguments.prompt_length)
    adapter = load_reference_adapter(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # GPT-2 style tokenizers use the EOS token as BOS, as clinmem's adapter does.
    bos_id = tokenizer.bos_token_id
    if bos_id is None:
        bos_id = tokenizer.eos_token_id
    print(
        f"{len(prompts)} prompts of {arguments.prompt_length} codes, {arguments.samples} "
        f"samples each, up to {arguments.max_new_tokens} new codes, temperature 1"
    )

    requests = [
        GenerationRequest(
            prompt=prompt,
            samples=arguments.samples,
            max_new_tokens=arguments.max_new_tokens,
            temperature=1.0,
            seed=index,
        )
        for index, prompt in enumerate(prompts)
    ]
    clinmem_timing, clinmem_samples = time_best_of(
        lambda: adapter.generate(requests), arguments.repeats
    )
    clinmem_tokens = sum(len(sample) for samples in clinmem_samples for sample in samples)

    subset = prompts[: arguments.baseline_prompts]
    subset_ids = [[bos_id, *tokenizer.convert_tokens_to_ids(list(p))] for p in subset]

    def generate_one_by_one() -> int:
        generated = 0
        torch.manual_seed(0)
        with torch.inference_mode():
            for ids in subset_ids:
                input_ids = torch.tensor([ids])
                for _ in range(arguments.samples):
                    output = model.generate(
                        input_ids=input_ids,
                        attention_mask=torch.ones_like(input_ids),
                        do_sample=True,
                        temperature=1.0,
                        top_k=0,
                        max_new_tokens=arguments.max_new_tokens,
                        eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.eos_token_id,
                    )
                    new = output[0, input_ids.shape[1] :].tolist()
                    if tokenizer.eos_token_id in new:
                        new = new[: new.index(tokenizer.eos_token_id)]
                    generated += len(new)
        return generated

    baseline_timing, baseline_tokens = time_best_of(generate_one_by_one, arguments.repeats)

    clinmem_rate = clinmem_tokens / clinmem_timing.best
    baseline_rate = baseline_tokens / baseline_timing.best
    print(
        f"clinmem: {clinmem_tokens} codes from {len(prompts) * arguments.samples} samples, "
        f"{clinmem_timing.describe()}, {clinmem_rate:.0f} codes/s"
    )
    print(
        f"generate() per sample: {baseline_tokens} codes from "
        f"{len(subset) * arguments.samples} samples ({len(subset)} prompts), "
        f"{baseline_timing.describe()}, {baseline_rate:.0f} codes/s"
    )
    print_ratio(
        "codes per second, clinmem over generate() per sample", clinmem_rate / baseline_rate
    )


if __name__ == "__main__":
    main()
