"""No gold sentence reaches a model or its teacher.

The recipe builds the NMT training corpus (prepare_data.py) and the guided model's teacher input
(teacher_align.py) from ../shared/data; the gold sets are Europarl sentences, and a sentence seen
in training would flatter every AER we report. This rebuilds the corpus text from the shared data
and checks it against both de-en gold sets, with its own comparison: lowercased,
whitespace-normalized, sentence by sentence, either side.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .conftest import ROOT

RECIPE = ROOT / "eval" / "recipe"
GOLD_FILES = ("gold/deen/deen.src", "gold/deen/deen.tgt", "gold/deen_bicici100/test.de", "gold/deen_bicici100/test.en")


def key(line: str) -> str:
    return re.sub(r"\s+", " ", line.replace("\ufeff", "")).strip().lower()


def gold_sentences(data) -> set[str]:
    keys = set()
    for name in GOLD_FILES:
        keys.update(key(line) for line in (data / name).read_text(encoding="utf-8").split("\n") if line.strip())
    return keys


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from .conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"third-party data not found at {SHARED_DATA} (set ALIGNER_DATA)")
    out = tmp_path_factory.mktemp("corpus")
    subprocess.run([sys.executable, str(RECIPE / "prepare_data.py"), "--data", str(SHARED_DATA), "--out", str(out), "--text-only"],
                   check=True, capture_output=True)
    return SHARED_DATA, out


def test_no_gold_sentence_is_in_the_nmt_training_or_validation_text(corpus):
    data, out = corpus
    gold = gold_sentences(data)
    assert len(gold) > 1000  # both sides of 508 + 100 pairs, minus repeats
    for split in ("train", "valid"):
        for lang in ("de", "en"):
            lines = (out / "tok" / f"{split}.{lang}").read_text(encoding="utf-8").split("\n")
            assert len(lines) > 1000
            leaked = [line for line in lines if line.strip() and key(line) in gold]
            assert not leaked, f"{split}.{lang}: {leaked[:3]}"


def test_the_teachers_input_is_the_training_text_and_holds_no_gold_sentence(corpus):
    data, out = corpus
    sys.path.insert(0, str(RECIPE))
    sys.path.insert(0, str(ROOT / "eval"))
    try:
        from teacher_align import teacher_input
    finally:
        del sys.path[:2]
    # teacher_input checks tok/ against the pieces fairseq trains on; give it those pieces
    # (a piece per token is enough for the check: its decoding is the token text itself).
    for lang in ("de", "en"):
        tokens = (out / "tok" / f"train.{lang}").read_text(encoding="utf-8").split("\n")
        (out / "spm_enc").mkdir(exist_ok=True)
        (out / "spm_enc" / f"train.{lang}").write_text(
            "\n".join(" ".join("\u2581" + token for token in line.split(" ")) if line else "" for line in tokens), encoding="utf-8")
    src, tgt = teacher_input(out)
    assert src == (out / "tok/train.de").read_text(encoding="utf-8").split("\n")[:-1]
    assert tgt == (out / "tok/train.en").read_text(encoding="utf-8").split("\n")[:-1]
    gold = gold_sentences(data)
    assert not [line for line in src + tgt if key(line) in gold]
