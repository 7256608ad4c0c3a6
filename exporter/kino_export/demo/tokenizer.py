"""The demo model's tokenizer: a word-level Hugging Face `tokenizers` tokenizer.

The engine reads the same ``tokenizer.json`` with the Rust `tokenizers` crate, so Python
training and Rust inference see identical ids.
"""
from __future__ import annotations

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from .world import MAX_TOKENS, SPECIAL, WORDS

PAD_ID = 0


def build_tokenizer() -> Tokenizer:
    vocab = {w: i for i, w in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    # Every prompt starts with [BOS], so the empty (unconditional) prompt is one real token.
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", special_tokens=[("[BOS]", vocab["[BOS]"])])
    return tok


def encode_batch(tok: Tokenizer, prompts: list[str], max_len: int = MAX_TOKENS):
    """ids, mask as int64 [B, max_len], padded with [PAD] and truncated like the engine does."""
    ids = torch.zeros((len(prompts), max_len), dtype=torch.int64)
    mask = torch.zeros((len(prompts), max_len), dtype=torch.int64)
    for i, enc in enumerate(tok.encode_batch(prompts)):
        row = enc.ids[:max_len]
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask
