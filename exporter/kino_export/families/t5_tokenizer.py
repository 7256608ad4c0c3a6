"""An offline T5-style tokenizer for the tiny random-weight fixtures.

Real checkpoints ship their own SentencePiece ``tokenizer.json`` (T5 / UMT5); the exporter copies
it. The tiny fixtures cannot download one, so this builds a small tokenizer of the same kind:
a Unigram model over ``▁``-prefixed words and single characters, Metaspace pre-tokenization,
``</s>`` appended to every prompt, ids ``<pad>`` = 0, ``</s>`` = 1, ``<unk>`` = 2 (T5's layout).
The Rust engine reads the file with the `tokenizers` crate; diffusers reads it through
``transformers.PreTrainedTokenizerFast`` (see :func:`hf_tokenizer`).
"""
from __future__ import annotations

import string

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

SPECIALS = ["<pad>", "</s>", "<unk>"]
WORDS = """a an the of and in on with to at by from for over under into through
red green blue yellow white black orange purple pink grey gray brown golden silver dark bright
cat dog bird fish horse car boat tree forest river sea ocean sky cloud clouds sun moon star stars
city street road mountain mountains snow rain fire water light night day morning evening
circle square triangle ball shape person man woman child face hand
moving moves walking running flying falling rising spinning slowly fast quickly left right up down
camera pan zoom shot view close wide beautiful small large big tiny old new
video scene background foreground blurry low quality worst static""".split()


def build_tokenizer() -> Tokenizer:
    pieces = [(s, 0.0) for s in SPECIALS]
    # Whole words score better than their letters, so known words stay one token.
    pieces += [("▁" + w, -2.0 - 0.01 * i) for i, w in enumerate(WORDS)]
    chars = string.ascii_lowercase + string.ascii_uppercase + string.digits + string.punctuation
    pieces += [("▁", -3.0)] + [(c, -5.0 - 0.001 * i) for i, c in enumerate(chars)]
    pieces += [("▁" + c, -4.0 - 0.001 * i) for i, c in enumerate(chars)]
    seen, vocab = set(), []
    for p, s in pieces:
        if p not in seen:
            seen.add(p)
            vocab.append((p, s))
    tok = Tokenizer(models.Unigram(vocab, unk_id=SPECIALS.index("<unk>"), byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    for s in SPECIALS:
        assert tok.token_to_id(s) == SPECIALS.index(s)
    return tok


def vocab_size() -> int:
    return build_tokenizer().get_vocab_size()


def save(path: str) -> str:
    build_tokenizer().save(path)
    return path


def hf_tokenizer(path: str):
    """The same ``tokenizer.json`` as a transformers tokenizer, for diffusers pipelines."""
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast(tokenizer_file=path, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
