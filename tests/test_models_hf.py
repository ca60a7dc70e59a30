"""The hf:<path> adapter, against a tiny GPT-2 trained in the test session."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic_cohorts import make_cohort
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

from benchmark.data.sequence import build_sequence
from benchmark.models.base import (
    EMBED,
    GENERATE,
    SCORE,
    SCORE_CODE_SETS,
    SCORE_DETAILS,
    CodeSetRequest,
    GenerationRequest,
)
from benchmark.models.hf import ContextLengthError, HuggingFaceModel
from benchmark.models.registry import ModelContext, ModelLoadError, load_model
from benchmark.models.tokenizer import SPECIAL_TOKENS
from benchmark.models.training import train_reference_gpt

MAX_SEQUENCE_LENGTH = 16
CONTEXT_LENGTH = MAX_SEQUENCE_LENGTH + 2


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(60, seed=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, cohort) -> Path:
    folder = tmp_path_factory.mktemp("hf") / "gpt"
    train_reference_gpt(
        cohort,
        folder,
        epochs=4,
        early_stopping=False,
        max_sequence_length=MAX_SEQUENCE_LENGTH,
        n_layer=1,
        n_head=2,
        n_embd=32,
        batch_size=8,
        lr=1e-2,
        progress=False,
    )
    return folder


@pytest.fixture()
def adapter(model_dir) -> HuggingFaceModel:
    context = ModelContext(cohort=None, max_sequence_length=MAX_SEQUENCE_LENGTH, batch_size=4)
    return load_model(f"hf:{model_dir}", context)


@pytest.fixture(scope="module")
def sequences(cohort) -> list[tuple[str, ...]]:
    return [build_sequence(p, MAX_SEQUENCE_LENGTH).tokens for p in cohort.patients[:11]]


def _reference_log_probabilities(model_dir: Path, codes: tuple[str, ...]) -> np.ndarray:
    """Score one sequence with a plain, unbatched forward pass of the saved model."""
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    vocabulary = json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    ids = torch.tensor([[vocabulary["[BOS]"]] + [vocabulary[code] for code in codes]])
    with torch.no_grad():
        log_probabilities = torch.log_softmax(model(ids).logits[0, :-1], dim=-1)
    return log_probabilities.gather(-1, ids[0, 1:].unsqueeze(-1)).squeeze(-1).double().numpy()


def test_folder_has_safetensors_only(model_dir):
    names = {path.name for path in model_dir.iterdir()}

    assert "model.safetensors" in names
    assert "tokenizer.json" in names
    assert "clinmem_training.json" in names
    assert not any(name.endswith(".bin") for name in names)


def test_vocabulary_is_codes(adapter, cohort):
    tokens = {t for p in cohort.patients for t in build_sequence(p, MAX_SEQUENCE_LENGTH).tokens}

    assert tokens <= adapter.vocabulary()
    assert not set(SPECIAL_TOKENS) & adapter.vocabulary()
    assert adapter.capabilities == frozenset(
        {SCORE, SCORE_DETAILS, GENERATE, EMBED, SCORE_CODE_SETS}
    )


def test_score_equals_plain_forward(adapter, model_dir, sequences):
    scores = adapter.score(sequences)

    assert len(scores) == len(sequences)
    for sequence, log_probabilities in zip(sequences, scores, strict=True):
        expected = _reference_log_probabilities(model_dir, sequence)
        np.testing.assert_allclose(log_probabilities, expected, atol=1e-5)
        assert log_probabilities.dtype == np.float64


def test_score_handles_empty_sequence(adapter):
    assert adapter.score([]) == []
    [empty] = adapter.score([()])
    assert empty.shape == (0,)


def test_score_details_equal_plain_forward(adapter, model_dir, sequences):
    details = adapter.score_details(sequences)
    plain = adapter.score(sequences)

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    vocabulary = json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    for sequence, detail, expected in zip(sequences, details, plain, strict=True):
        np.testing.assert_array_equal(detail.log_probs, expected)

        ids = torch.tensor([[vocabulary["[BOS]"]] + [vocabulary[code] for code in sequence]])
        with torch.no_grad():
            distribution = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)
        weights = distribution.exp()
        expected_mean = (weights * distribution).sum(-1)
        expected_std = (weights * (distribution - expected_mean[:, None]) ** 2).sum(-1).sqrt()
        np.testing.assert_allclose(detail.mean, expected_mean.numpy(), atol=1e-5)
        np.testing.assert_allclose(detail.std, expected_std.numpy(), atol=1e-5)

        # The batched pass may differ from this one in the last float32 bits, so only
        # tokens within 1e-5 of the observed one may be counted either way.
        observed = distribution.gather(-1, ids[0, 1:].unsqueeze(-1))
        surely_above = (distribution > observed + 1e-5).sum(-1).numpy()
        maybe_above = (distribution > observed - 1e-5).sum(-1).numpy() - 1
        assert (detail.rank >= surely_above).all()
        assert (detail.rank <= maybe_above).all()
        assert detail.rank.dtype == np.float64


def test_score_details_uniform_distribution(model_dir, tmp_path):
    # A zero final layer norm makes every hidden state 0. GPT-2's output layer has no bias, so
    # every logit is 0 and the next-token distribution is uniform over all logits.
    folder = tmp_path / "uniform"
    shutil.copytree(model_dir, folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
    model.save_pretrained(folder)
    adapter = load_model(f"hf:{folder}", ModelContext(cohort=None))
    logit_count = model.config.vocab_size

    [details] = adapter.score_details([("GENDER//F", "AGE//40-44", "GENDER//F")])

    np.testing.assert_allclose(details.log_probs, [-np.log(logit_count)] * 3, atol=1e-6)
    np.testing.assert_allclose(details.mean, [-np.log(logit_count)] * 3, atol=1e-6)
    np.testing.assert_allclose(details.std, [0.0] * 3, atol=1e-6)
    np.testing.assert_array_equal(details.rank, [0, 0, 0])


def test_score_details_rank_of_most_likely_code(model_dir, tmp_path):
    # A constant final hidden state along which one code's embedding points makes that code
    # the most likely next token at every position.
    folder = tmp_path / "peaked"
    shutil.copytree(model_dir, folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    code_id = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]["GENDER//F"]
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.fill_(1.0)
        model.transformer.wte.weight[code_id].fill_(10.0)
    model.save_pretrained(folder)
    adapter = load_model(f"hf:{folder}", ModelContext(cohort=None))

    [details] = adapter.score_details([("GENDER//F", "AGE//40-44", "GENDER//F")])

    np.testing.assert_array_equal(details.rank[[0, 2]], [0, 0])
    assert details.rank[1] >= 1


def test_score_details_handle_empty_sequence(adapter):
    assert adapter.score_details([]) == []
    [empty] = adapter.score_details([()])
    for values in (empty.log_probs, empty.mean, empty.std, empty.rank):
        assert values.shape == (0,)


def test_unknown_codes_counted(adapter, caplog):
    known = ("GENDER//F", "AGE//40-44")

    with caplog.at_level(logging.WARNING, logger="benchmark.models.hf"):
        [scores] = adapter.score([(*known, "ICD10//Z99", "ICD10//Z99")])
    adapter.generate([GenerationRequest(("ICD10//Z99",), 1, 2, 1.0, 0)])

    assert adapter.unknown_code_counts == {"ICD10//Z99": 3}
    assert np.isfinite(scores).all()
    assert "mapped to the unknown token" in caplog.text


def test_tokenizer_without_unknown_token(model_dir, tmp_path):
    # Rebuild the same vocabulary without an unknown token, in a copy of the model folder.
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = tmp_path / "no-unk"
    shutil.copytree(model_dir, folder)
    vocabulary = json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    backend = Tokenizer(models.WordLevel(vocab=vocabulary))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", bos_token="[BOS]", eos_token="[EOS]"
    ).save_pretrained(folder)
    adapter = load_model(f"hf:{folder}", ModelContext(cohort=None))

    [with_unknown, without] = adapter.score(
        [("GENDER//F", "ICD10//Z99", "AGE//40-44"), ("GENDER//F", "AGE//40-44")]
    )

    assert np.isnan(with_unknown[1])
    np.testing.assert_allclose(with_unknown[[0, 2]], without, atol=1e-6)
    assert adapter.unknown_code_counts == {"ICD10//Z99": 1}

    [details] = adapter.score_details([("GENDER//F", "ICD10//Z99", "AGE//40-44")])
    for values in (details.log_probs, details.mean, details.std, details.rank):
        assert np.isnan(values[1])
        assert np.isfinite(values[[0, 2]]).all()


def test_generation_batch_independent(model_dir, adapter, sequences):
    requests = [
        GenerationRequest(
            prompt=sequence[:length], samples=3, max_new_tokens=6, temperature=1.0, seed=seed
        )
        for seed, (sequence, length) in enumerate(zip(sequences[:5], [2, 5, 0, 9, 3], strict=True))
    ]
    single_row = load_model(f"hf:{model_dir}", ModelContext(cohort=None, batch_size=1))

    together = adapter.generate(requests)
    alone = [adapter.generate([request])[0] for request in requests]
    unbatched = single_row.generate(requests)

    assert together == alone
    assert together == unbatched
    assert all(len(samples) == 3 for samples in together)


def test_generation_seeded(adapter):
    request = GenerationRequest(
        ("GENDER//F", "AGE//40-44"), samples=8, max_new_tokens=8, temperature=1.5, seed=11
    )

    first = adapter.generate([request])
    second = adapter.generate([request])
    [samples] = first

    assert first == second
    assert len(set(samples)) > 1


def test_generation_emits_codes_and_stops(adapter):
    request = GenerationRequest(
        (), samples=16, max_new_tokens=CONTEXT_LENGTH - 1, temperature=1.0, seed=5
    )

    [samples] = adapter.generate([request])

    emitted = {code for sample in samples for code in sample}
    assert emitted <= adapter.vocabulary()
    assert all(len(sample) <= CONTEXT_LENGTH - 1 for sample in samples)
    # Training sequences end with [EOS] after at most 16 codes, so the model has learned to stop.
    assert any(len(sample) < CONTEXT_LENGTH - 1 for sample in samples)


def test_eos_ends_every_sample(model_dir, tmp_path):
    # Make EOS the most likely next token everywhere: the final layer norm outputs a constant
    # vector, and the EOS embedding (tied to the output layer) points along it.
    folder = tmp_path / "eos"
    shutil.copytree(model_dir, folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    eos_id = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]["[EOS]"]
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.fill_(1.0)
        model.transformer.wte.weight[eos_id].fill_(10.0)
    model.save_pretrained(folder)
    adapter = load_model(f"hf:{folder}", ModelContext(cohort=None))

    [samples] = adapter.generate([GenerationRequest(("GENDER//F",), 5, 10, 1.0, 0)])

    assert samples == [()] * 5


def test_zero_samples_and_zero_tokens(adapter):
    results = adapter.generate(
        [
            GenerationRequest(("GENDER//F",), samples=0, max_new_tokens=4, temperature=1.0, seed=0),
            GenerationRequest(("GENDER//F",), samples=2, max_new_tokens=0, temperature=1.0, seed=0),
        ]
    )

    assert results == [[], [(), ()]]


def test_long_prompt_keeps_its_end(adapter, sequences, caplog):
    prompt = sequences[0] * 3
    request = GenerationRequest(prompt, samples=2, max_new_tokens=4, temperature=1.0, seed=0)
    cut = GenerationRequest(prompt[-(CONTEXT_LENGTH - 5) :], 2, 4, 1.0, 0)

    with caplog.at_level(logging.WARNING, logger="benchmark.models.hf"):
        [samples] = adapter.generate([request])

    assert samples == adapter.generate([cut])[0]
    assert "1 of 1 prompts were cut to their last codes" in caplog.text


def test_generation_beyond_context_rejected(adapter):
    request = GenerationRequest(
        (), samples=1, max_new_tokens=CONTEXT_LENGTH, temperature=1.0, seed=0
    )

    with pytest.raises(ContextLengthError, match="max_new_tokens=18 does not fit"):
        adapter.generate([request])


def test_invalid_temperature_rejected(adapter):
    with pytest.raises(ValueError, match="temperature must be positive"):
        adapter.generate([GenerationRequest((), 1, 1, 0.0, 0)])


def test_score_beyond_context_rejected(adapter):
    too_long = ("GENDER//F",) * CONTEXT_LENGTH

    with pytest.raises(ContextLengthError, match="needs 19 positions .* context of 18"):
        adapter.score([too_long])


def test_embed_mean_pools_codes(adapter, model_dir, sequences):
    vectors = adapter.embed(sequences)
    alone = adapter.embed(sequences[3:4])

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    vocabulary = json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    ids = torch.tensor([[vocabulary["[BOS]"]] + [vocabulary[code] for code in sequences[3]]])
    with torch.no_grad():
        hidden = model(ids, output_hidden_states=True).hidden_states[-1][0]

    assert vectors.shape == (len(sequences), 32)
    np.testing.assert_allclose(vectors[3], hidden[1:].mean(0).double().numpy(), atol=1e-5)
    np.testing.assert_allclose(alone[0], vectors[3], atol=1e-5)
    assert adapter.embed([]).shape == (0, 32)


def test_digest_covers_weights_and_config(model_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    first = load_model(f"hf:{model_dir}", ModelContext(cohort=None)).digest()
    copied = load_model(f"hf:{copy}", ModelContext(cohort=None)).digest()

    config = json.loads((copy / "config.json").read_text())
    config["resid_pdrop"] = 0.0
    (copy / "config.json").write_text(json.dumps(config))
    changed = load_model(f"hf:{copy}", ModelContext(cohort=None)).digest()

    assert first.startswith("sha256:")
    assert first == copied
    assert first != changed


def test_trust_remote_code_warns(model_dir, caplog):
    context = ModelContext(cohort=None, trust_remote_code=True)

    with caplog.at_level(logging.WARNING, logger="benchmark.models.hf"):
        load_model(f"hf:{model_dir}", context)

    assert "trust_remote_code is on" in caplog.text


def test_pickle_only_folder_rejected(model_dir, tmp_path):
    folder = tmp_path / "pickle"
    shutil.copytree(model_dir, folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()

    with pytest.raises(ModelLoadError, match=r"only pickle weights \(pytorch_model.bin\)"):
        load_model(f"hf:{folder}", ModelContext(cohort=None))


def test_missing_folder_named(tmp_path):
    missing = tmp_path / "nowhere"

    with pytest.raises(ModelLoadError, match=f"model folder not found: {missing}"):
        load_model(f"hf:{missing}", ModelContext(cohort=None))


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("file", "is not a folder"),
        ("no-config", "has no config.json"),
        ("no-weights", r"has no weights: no \*.safetensors file found"),
        ("no-tokenizer", "has no tokenizer files"),
        ("invalid-tokenizer", "failed to load the tokenizer"),
    ],
)
def test_invalid_folders_rejected(model_dir, tmp_path, layout, message):
    target = tmp_path / layout
    if layout == "file":
        target.write_text("not a model")
    else:
        shutil.copytree(model_dir, target)
        removed = {
            "no-config": ["config.json"],
            "no-weights": ["model.safetensors"],
            "no-tokenizer": ["tokenizer.json", "tokenizer_config.json"],
            "invalid-tokenizer": [],
        }[layout]
        for name in removed:
            (target / name).unlink()
    if layout == "invalid-tokenizer":
        (target / "tokenizer.json").write_text("{")

    with pytest.raises(ModelLoadError, match=message):
        load_model(f"hf:{target}", ModelContext(cohort=None))


def test_empty_hf_path_rejected():
    with pytest.raises(ModelLoadError, match="hf: needs a folder"):
        load_model("hf:", ModelContext(cohort=None))


def _reference_next_code_log_probabilities(model_dir: Path, codes: tuple[str, ...]) -> np.ndarray:
    """Return log p(. | BOS, codes[:i]) for every i, from a plain forward pass."""
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    vocabulary = json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    ids = torch.tensor([[vocabulary["[BOS]"]] + [vocabulary[code] for code in codes]])
    with torch.no_grad():
        return torch.log_softmax(model(ids).logits[0], dim=-1).double().numpy()


def test_code_sets_take_the_best_prefix(adapter, model_dir, sequences):
    vocabulary = json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    codes = sorted({code for sequence in sequences for code in sequence})
    code_sets = (tuple(codes[:3]), (codes[-1], "ICD10//NOT-A-CODE"), ("ICD10//NOT-A-CODE",))
    requests = [CodeSetRequest(sequence, code_sets) for sequence in sequences]

    answers = adapter.score_code_sets(requests)

    for sequence, answer in zip(sequences, answers, strict=True):
        table = _reference_next_code_log_probabilities(model_dir, sequence)
        for column, candidates in enumerate(code_sets[:2]):
            ids = [vocabulary[code] for code in candidates if code in vocabulary]
            expected = np.logaddexp.reduce(table[:, ids], axis=1).max()
            np.testing.assert_allclose(answer[column], expected, atol=1e-5)
        assert answer[2] == -np.inf


def test_code_sets_of_an_empty_prompt_follow_bos(adapter, model_dir):
    vocabulary = json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    code = next(name for name in vocabulary if "//" in name)

    [answer] = adapter.score_code_sets([CodeSetRequest((), ((code,),))])

    table = _reference_next_code_log_probabilities(model_dir, ())
    np.testing.assert_allclose(answer, [table[0, vocabulary[code]]], atol=1e-5)


def test_cut_prompts_warn_once_per_model(adapter, sequences, caplog):
    request = GenerationRequest(
        sequences[0] * 3, samples=1, max_new_tokens=4, temperature=1.0, seed=0
    )

    with caplog.at_level(logging.WARNING, logger="benchmark.models.hf"):
        adapter.generate([request])
        adapter.generate([request])

    warnings = [r for r in caplog.records if "prompts were cut" in r.getMessage()]
    assert len(warnings) == 1
    assert "later cuts are logged at debug level" in warnings[0].getMessage()


def test_no_progress_hides_loading_bar(model_dir, capfd):
    from transformers.utils import logging as transformers_logging

    load_model(f"hf:{model_dir}", ModelContext(cohort=None, progress=False))
    errors_without_progress = capfd.readouterr().err
    load_model(f"hf:{model_dir}", ModelContext(cohort=None, progress=True))
    errors_with_progress = capfd.readouterr().err

    assert "Loading weights" not in errors_without_progress
    assert "Loading weights" in errors_with_progress
    assert transformers_logging.is_progress_bar_enabled()
