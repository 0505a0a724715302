"""The fairseq path's word cache: each distinct word segmented once, ids identical to segmenting every time."""

from pathlib import Path

import pytest

from aligner.backends.fairseq.dictionary import Dictionary
from aligner.backends.fairseq.subword import Preprocessor, SentencePieceSegmenter, WordCache

BUNDLE = Path(__file__).resolve().parents[1] / "aligner" / "models" / "deen-guided"


class CountingSegmenter:
    """Splits a word into its characters, and records which words it was asked for."""

    name = "chars"

    def __init__(self):
        self.asked: list[str] = []

    def segment(self, words):
        self.asked.extend(words)
        return [list(word) for word in words]

    def can_produce(self, piece):
        return True


def dictionary(tmp_path, symbols, name="dict.txt"):
    path = tmp_path / name
    path.write_text("".join(f"{s} 1\n" for s in symbols), encoding="utf-8")
    return Dictionary.load(path)


def test_each_distinct_word_is_segmented_once(tmp_path):
    segmenter = CountingSegmenter()
    vocabulary = dictionary(tmp_path, "abc")
    preprocessor = Preprocessor(segmenter, lowercase=True)
    first = preprocessor.encode(["AB", "c", "ab", "AB"], vocabulary)
    assert segmenter.asked == ["ab", "c", "ab"]  # "AB" twice in one sentence: once; "ab" is another key, same pieces
    second = preprocessor.encode(["c", "AB", "zz"], vocabulary)
    assert segmenter.asked == ["ab", "c", "ab", "zz"]  # only the new word
    a, b, c, unk = (vocabulary.index(s) for s in ("a", "b", "c", "<unk>"))
    assert list(first.ids) == [a, b, c, a, b, a, b] and list(first.pieces_per_word) == [2, 1, 2, 2]
    assert list(second.ids) == [c, a, b, unk, unk] and second.unknown_pieces == 2
    cache = next(iter(preprocessor._caches.values()))
    assert (cache.hits, cache.misses) == (2, 5)  # looked up before the sentence is segmented: the repeated "AB" counts as a miss


def test_the_cache_is_per_dictionary_and_bounded(tmp_path):
    segmenter = CountingSegmenter()
    source, target = dictionary(tmp_path, "ab", "dict.de.txt"), dictionary(tmp_path, "ba", "dict.en.txt")
    preprocessor = Preprocessor(segmenter, cache_size=2)
    assert list(preprocessor.encode(["a"], source).ids) == [source.index("a")]
    assert list(preprocessor.encode(["a"], target).ids) == [target.index("a")] != [source.index("a")]
    cache = WordCache(source, size=2)
    for word in ("a", "b", "a", "ab"):  # "b" is the least recently used when "ab" comes
        cache.ids([word], segmenter, False)
    assert list(cache.entries) == ["a", "ab"]


def test_cached_ids_equal_uncached_on_real_text(shared_data):
    pytest.importorskip("sentencepiece")
    segmenter = SentencePieceSegmenter(BUNDLE / "spm.model")
    vocabulary = Dictionary.load(BUNDLE / "dict.de.txt")
    cached, uncached = Preprocessor(segmenter, True), Preprocessor(segmenter, True, cache_size=0)
    lines = (shared_data / "train" / "deen" / "more" / "all.de").read_text(encoding="utf-8").splitlines()[:300]
    for line in lines + lines[:50]:  # the repeats are served from the cache
        words = line.split()
        assert cached.encode(words, vocabulary) == uncached.encode(words, vocabulary)
    assert next(iter(cached._caches.values())).hits > 0


def test_word_by_word_segmentation_equals_sentencepieces_list_encoding():
    # segment() encodes one word per call (a list call starts a thread pool each time); the pieces
    # must be those of sentencepiece's own list encoding, empty words and odd characters included.
    segmenter = SentencePieceSegmenter(BUNDLE / "spm.model")
    words = ["das", "Haus", "", "straßenbahn-haltestelle", "\u00a0", "über", "x" * 40, "3,5", "🙂"]
    assert segmenter.segment(words) == segmenter.processor.encode(words, out_type=str)
