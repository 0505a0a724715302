"""Pre-tokenized words to piece ids with a Hugging Face tokenizer, one word at a time.

Each word is encoded on its own (without special tokens), so every piece is known to come
from exactly one word, as in :mod:`aligner.backends.fairseq.subword`. For SentencePiece tokenizers (Marian,
M2M100, NLLB, mBART) this equals the sentence-level encoding of the words joined by
spaces, since every word gets its own ``▁`` prefix either way. FSMT's Moses tokenizer can
differ (docs/huggingface.md): Moses decides some splits from context (a final period, a
non-breaking prefix such as ``Dr.`` mid-sentence), which one word alone does not have.

A word that the tokenizer's own normalization empties (a control character, a zero-width
space) gets no pieces; :attr:`EncodedSentence.empty_words` counts it.
"""

from __future__ import annotations

from array import array
from typing import Any, Sequence

from ...errors import InputError
from ..base import EncodedSentence
from .detect import Family

SIDES = ("source", "target")


class WordEncoder:
    """``encode(words, side)`` -> :class:`EncodedSentence` for one model's tokenizer."""

    def __init__(self, family: Family, tokenizer: Any):
        self.family = family
        self.tokenizer = tokenizer
        if family.name == "fsmt":
            # FSMT's tokenizer maps pieces to ids with the source vocabulary only (its
            # ``decoder`` dict is the target vocabulary, id -> piece).
            self.target_vocab = {piece: index for index, piece in tokenizer.decoder.items()}
            self.target_unk = self.target_vocab.get(tokenizer.unk_token)

    def encode(self, words: Sequence[str], side: str) -> EncodedSentence:
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        pieces = self.word_ids(words, side)
        ids = [piece for word in pieces for piece in word]
        unk = self.target_unk if self.family.name == "fsmt" and side == "target" else self.tokenizer.unk_token_id
        return EncodedSentence(array("i", ids), array("i", (len(p) for p in pieces)), sum(i == unk for i in ids))

    def word_ids(self, words: Sequence[str], side: str) -> list[list[int]]:
        """Piece ids of each word (possibly none), without special tokens."""
        if not words:
            return []
        words = list(words)
        if self.family.name == "fsmt" and side == "target":
            return [self._fsmt_target(word) for word in words]
        if side == "target":
            # Marian switches to its target SentencePiece model (and vocabulary) in target mode.
            encoded = self.tokenizer(text_target=words, add_special_tokens=False)
        else:
            encoded = self.tokenizer(words, add_special_tokens=False)
        return [[] if self._normalizes_away(word) else list(ids) for word, ids in zip(words, encoded["input_ids"])]

    def _normalizes_away(self, word: str) -> bool:
        """Whether the tokenizer's own normalizer leaves only whitespace of ``word``.

        The ``tokenizers`` ports of SentencePiece (NLLB, mBART-50) then still emit a lone
        ``▁`` for the word, which the sentence-level encoding does not have (its normalizer
        collapses the surrounding spaces); the SentencePiece library itself returns nothing.
        """
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        normalizer = getattr(backend, "normalizer", None)
        return normalizer is not None and not normalizer.normalize_str(word).strip()

    def _fsmt_target(self, word: str) -> list[int]:
        """FSMT target side: the tokenizer's own Moses pipeline and BPE, in the target language."""
        tokenizer, lang = self.tokenizer, self.tokenizer.tgt_lang
        text = word.lower() if tokenizer.do_lower_case else word
        tokens = tokenizer.moses_tokenize(tokenizer.moses_pipeline(text, lang=lang), lang=lang)
        pieces = [piece for token in tokens if token for piece in tokenizer.bpe(token).split(" ")]
        found = [self.target_vocab.get(piece, self.target_unk) for piece in pieces]
        if None in found:
            raise InputError(f"the FSMT target vocabulary has neither the piece {pieces[found.index(None)]!r} of {word!r} nor an unknown token")
        return [int(index) for index in found if index is not None]
