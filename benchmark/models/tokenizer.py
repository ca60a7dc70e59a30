"""The tokenizer of clinmem's reference models: one token per cohort code.

Codes such as ``SNOMED//44054006`` become whole tokens of a ``tokenizers``
WordLevel model, so the tokenizer's vocabulary is exactly the code strings and
any Hugging Face causal LM trained with it can be loaded as ``hf:<path>``.
Token ids are fixed: the four special tokens first, then the codes in sorted
order, so the same codes always give the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
BOS_TOKEN = "[BOS]"
EOS_TOKEN = "[EOS]"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN)


class InvalidCodeError(ValueError):
    """Raised when a code cannot be one whitespace-free token."""


def build_code_tokenizer(codes: Iterable[str]) -> PreTrainedTokenizerFast:
    """Build a word-level tokenizer whose vocabulary is the given codes.

    ``[PAD]`` has id 0, then ``[UNK]``, ``[BOS]`` and ``[EOS]``; the distinct
    codes follow in sorted order. Raises ``InvalidCodeError`` for an empty
    code, a code containing whitespace (the pre-tokenizer splits on it), or a
    code equal to a special token.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    distinct = sorted(set(codes))
    for code in distinct:
        _check_code(code)

    vocabulary = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for code in distinct:
        vocabulary[code] = len(vocabulary)

    backend = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token=UNK_TOKEN))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
    )


def _check_code(code: str) -> None:
    if not code:
        raise InvalidCodeError("the cohort contains an empty code; every code needs a value")
    if any(character.isspace() for character in code):
        raise InvalidCodeError(
            f"code {code!r} contains whitespace, so it cannot be one token; "
            "replace the whitespace in the cohort's codes (for example with '_')"
        )
    if code in SPECIAL_TOKENS:
        raise InvalidCodeError(
            f"code {code!r} equals a special token of the code tokenizer; rename it in the cohort"
        )
