"""A small word-level tokenizer built in code, for the tiny caption and CLIP models (no downloads).

Captions of a random-initialised decoder are then strings of these words, so they can be indexed
and searched like real captions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WORDS", "build_word_tokenizer"]

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")

#: The tiny models' vocabulary: scene words, so generated captions read like (odd) captions.
_TEXT = (
    "a an the of in on at with and near under over by two three some "
    "person man woman child dog cat horse bird car truck bus bicycle boat train plane "
    "street road city building house room kitchen office park forest beach ocean sea river "
    "mountain field sky sunset night snow rain crowd stage screen table chair window door "
    "red blue green yellow white black bright dark small large old new "
    "walking running sitting standing driving flying swimming talking playing holding looking"
)
WORDS = tuple(_TEXT.split())


def build_word_tokenizer(max_length: int = 32) -> Any:
    """A ``PreTrainedTokenizerFast`` over `WORDS` (lower-cased, split on whitespace and punctuation)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate((*SPECIALS, *WORDS))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=max_length,
    )
