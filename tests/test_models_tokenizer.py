"""The code tokenizer: one whole token per code, fixed special-token ids."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from benchmark.models.tokenizer import InvalidCodeError, build_code_tokenizer


def test_special_tokens_come_first():
    tokenizer = build_code_tokenizer(["SNOMED//2", "LOINC//1", "SNOMED//2"])

    assert tokenizer.get_vocab() == {
        "[PAD]": 0,
        "[UNK]": 1,
        "[BOS]": 2,
        "[EOS]": 3,
        "LOINC//1": 4,
        "SNOMED//2": 5,
    }
    assert tokenizer.pad_token_id == 0
    assert tokenizer.unk_token_id == 1
    assert tokenizer.bos_token_id == 2
    assert tokenizer.eos_token_id == 3


def test_codes_encode_as_whole_tokens():
    tokenizer = build_code_tokenizer(["SNOMED//44054006", "RxNorm//860975"])

    ids = tokenizer("SNOMED//44054006 RxNorm//860975 ICD10//E11", add_special_tokens=False)

    assert ids["input_ids"] == [5, 4, 1]


def test_saved_tokenizer_reloads(tmp_path):
    tokenizer = build_code_tokenizer(["A//1", "B//2"])
    tokenizer.save_pretrained(tmp_path)

    reloaded = AutoTokenizer.from_pretrained(tmp_path)

    assert reloaded.get_vocab() == tokenizer.get_vocab()
    assert reloaded.bos_token == "[BOS]"
    assert reloaded.eos_token == "[EOS]"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("SNOMED//a b", "'SNOMED//a b' contains whitespace"),
        ("LOINC//1\t2", "contains whitespace"),
        ("", "empty code"),
        ("[EOS]", "equals a special token"),
    ],
)
def test_invalid_codes_rejected(code, message):
    with pytest.raises(InvalidCodeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_code_tokenizer(["SNOMED//1", code])
