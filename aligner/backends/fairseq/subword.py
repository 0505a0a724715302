"""The model's preprocessing of already-tokenized words: lowercasing and subword splitting.

Each word is segmented on its own, so every piece is known to come from exactly one
word; pieces are never mapped back by counting ``▁`` or ``@@`` markers.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

from ..base import EncodedSentence
from .dictionary import Dictionary
from ...errors import ResourceError


class Segmenter(Protocol):
    name: str

    def segment(self, words: Sequence[str]) -> list[list[str]]:
        """The pieces of each word (possibly none)."""

    def can_produce(self, piece: str) -> bool:
        """Whether ``piece`` is a unit of this subword model (to check it against a dictionary)."""


class WholeWords:
    """No subword model: words are looked up in the dictionary as they are."""

    name = "none"

    def segment(self, words: Sequence[str]) -> list[list[str]]:
        return [[word] for word in words]

    def can_produce(self, piece: str) -> bool:
        return True


class SentencePieceSegmenter:
    name = "sentencepiece"

    def __init__(self, model_path: Path | str):
        import sentencepiece

        self.path = Path(model_path)
        if not self.path.is_file():
            raise ResourceError("SentencePiece model not found", self.path)
        self.processor = sentencepiece.SentencePieceProcessor()
        try:
            self.processor.Load(str(self.path))
        except (OSError, RuntimeError) as exc:
            raise ResourceError(f"not a SentencePiece model ({exc})", self.path) from None

    def segment(self, words: Sequence[str]) -> list[list[str]]:
        # Word by word: encoding a list starts sentencepiece's thread pool on every call (~2 ms
        # here), which a sentence's few unseen words never pay back (~35 us per word alone).
        encode = self.processor.encode
        return [encode(word, out_type=str) for word in words]

    def can_produce(self, piece: str) -> bool:
        return not self.processor.is_unknown(self.processor.piece_to_id(piece))


class SubwordNmtSegmenter:
    """subword-nmt / fastBPE codes: non-final pieces end in ``@@``."""

    name = "subword-nmt"

    def __init__(self, codes_path: Path | str, separator: str = "@@"):
        try:
            from subword_nmt.apply_bpe import BPE
        except ImportError:
            raise ResourceError("BPE codes need the subword-nmt package: pip install 'aligner[bpe]'") from None
        self.path = Path(codes_path)
        if not self.path.is_file():
            raise ResourceError("BPE codes not found", self.path)
        try:
            with open(self.path, encoding="utf-8") as codes:
                self.bpe = BPE(codes, separator=separator)
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            raise ResourceError(f"not a subword-nmt codes file ({exc})", self.path) from None
        self.separator = separator
        self.units = {"".join(pair).replace("</w>", "") for pair in self.bpe.bpe_codes}

    def segment(self, words: Sequence[str]) -> list[list[str]]:
        return [self.bpe.segment_tokens([word]) for word in words]

    def can_produce(self, piece: str) -> bool:
        unit = piece[: -len(self.separator)] if piece.endswith(self.separator) else piece
        return len(unit) == 1 or unit in self.units


SEGMENTERS = {"sentencepiece": SentencePieceSegmenter, "subword-nmt": SubwordNmtSegmenter}


def describe_subwords(source: Segmenter, target: Segmenter) -> str:
    """The ``subword`` field of a signature.

    Separate models per language can split the same word differently on each side, so a
    result made with them must not pass for one made with a joint model.
    """
    if source is target:
        return source.name
    if source.name == target.name:
        return f"{source.name}-separate"
    return f"{source.name}+{target.name}"


WORD_CACHE_SIZE = 200_000  # distinct words kept per dictionary; corpora are Zipfian, so most lookups hit


class WordCache:
    """A bounded LRU of word -> dictionary ids of its pieces, for one dictionary.

    Each word is segmented on its own (see the module docstring), so a word's ids do not
    depend on its sentence and can be kept: a corpus encodes each distinct word once.
    """

    def __init__(self, dictionary: Dictionary, size: int = WORD_CACHE_SIZE):
        self.dictionary = dictionary  # held so that the id() key below cannot be reused
        self.size = size
        self.entries: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self.hits = self.misses = 0

    def ids(self, words: Sequence[str], segmenter: Segmenter, lowercase: bool) -> list[tuple[int, ...]]:
        entries = self.entries
        found: list[tuple[int, ...] | None] = []
        missing: list[str] = []
        for word in words:
            value = entries.get(word)
            if value is not None:
                entries.move_to_end(word)
            else:
                missing.append(word)
            found.append(value)
        self.hits += len(words) - len(missing)
        self.misses += len(missing)
        if missing:
            distinct = list(dict.fromkeys(missing))
            segmented = segmenter.segment([word.lower() for word in distinct] if lowercase else distinct)
            index = self.dictionary.index
            new = {word: tuple(index(piece) for piece in pieces) for word, pieces in zip(distinct, segmented)}
            found = [new[word] if value is None else value for word, value in zip(words, found)]
            entries.update(new)
            while len(entries) > self.size:
                entries.popitem(last=False)
        return found  # type: ignore[return-value]  # every None was filled above


@dataclass(frozen=True)
class Preprocessor:
    segmenter: Segmenter
    lowercase: bool = False
    cache_size: int = WORD_CACHE_SIZE  # 0: segment every word every time (the uncached path, for comparison)
    _caches: dict[int, WordCache] = field(default_factory=dict, compare=False, repr=False)

    def encode(self, words: Sequence[str], dictionary: Dictionary) -> EncodedSentence:
        if self.cache_size > 0:
            cache = self._caches.get(id(dictionary))
            if cache is None:
                cache = self._caches[id(dictionary)] = WordCache(dictionary, self.cache_size)
            per_word = cache.ids(words, self.segmenter, self.lowercase)
            ids = array("i", [i for word_ids in per_word for i in word_ids])
            return EncodedSentence(ids, array("i", (len(p) for p in per_word)), ids.count(dictionary.unk))
        prepared = [word.lower() for word in words] if self.lowercase else list(words)
        pieces = self.segmenter.segment(prepared)
        flat = [dictionary.index(piece) for word_pieces in pieces for piece in word_pieces]
        return EncodedSentence(array("i", flat), array("i", (len(p) for p in pieces)), sum(i == dictionary.unk for i in flat))


def check_vocabulary(segmenter: Segmenter, dictionary: Dictionary, dictionary_path: Path, minimum: float = 0.9) -> None:
    """Refuse a dictionary whose symbols the subword model mostly could not have produced.

    A fairseq dictionary is built from the segmented training text, so with the right
    subword model nearly every symbol is one of its units; with a model from another
    corpus or language, few are.
    """
    if isinstance(segmenter, WholeWords):
        return
    symbols = [s for s in dictionary.symbols[4:] if not s.startswith("madeupword")]
    if not symbols:
        return
    ratio = sum(segmenter.can_produce(symbol) for symbol in symbols) / len(symbols)
    if ratio < minimum:
        raise ResourceError(
            f"only {ratio:.0%} of this dictionary's symbols are units of the subword model "
            f"{getattr(segmenter, 'path', '')}; are dictionary and subword model from the same training run?",
            dictionary_path,
        )
