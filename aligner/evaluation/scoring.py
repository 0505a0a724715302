"""Scoring Pharaoh files against a gold set: the library side of ``aligner score``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import InputError, display_name
from ..io import check_gold_range, check_link_range, read_gold, read_lines, read_pharaoh, split_words
from .metrics import AERResult, score_alignments
from ..signature import Signature


@dataclass(frozen=True)
class ScoreConfig:
    gold: str
    hyp: str
    src: Optional[str] = None
    tgt: Optional[str] = None
    gold_one_based: bool = True
    reverse_gold: bool = False
    drop_invalid: bool = False

    def signature(self) -> str:
        return self.signature_parts().format()

    def signature_parts(self) -> Signature:
        return Signature(
            {
                "gold": self.gold.rsplit("/", 1)[-1],
                "base": "1" if self.gold_one_based else "0",
                "reverse": "yes" if self.reverse_gold else "no",
                "invalid": "drop" if self.drop_invalid else "error",
            }
        )


def score_files(config: ScoreConfig) -> AERResult:
    """Corpus-level AER of ``config.hyp`` against ``config.gold``, indices checked when texts are given."""
    if (config.src is None) != (config.tgt is None):
        raise InputError("give both source and target texts to check link ranges, or neither")
    if config.drop_invalid and config.src is None:
        raise InputError("dropping out-of-range links needs the source and target texts (--src, --tgt)")
    golds = read_gold(config.gold, config.gold_one_based, config.reverse_gold)
    hypotheses = [[(link.src, link.tgt) for link in links] for links in read_pharaoh(config.hyp)]
    if len(hypotheses) != len(golds):
        raise InputError(f"hypothesis has {len(hypotheses)} lines but gold {display_name(config.gold)} has {len(golds)}", config.hyp)
    dropped = 0
    if config.src is not None and config.tgt is not None:
        lengths = [len(split_words(line)) for line in read_lines(config.src)]
        tgt_lengths = [len(split_words(line)) for line in read_lines(config.tgt)]
        if not len(lengths) == len(tgt_lengths) == len(golds):
            raise InputError(
                f"line counts differ: gold {len(golds)}, source {config.src} {len(lengths)}, target {config.tgt} {len(tgt_lengths)}"
            )
        checked_golds = []
        for number, (gold, src_len, tgt_len) in enumerate(zip(golds, lengths, tgt_lengths), start=1):
            checked, dropped_gold = check_gold_range(gold, src_len, tgt_len, config.gold, number, config.drop_invalid)
            checked_golds.append(checked)
            dropped += dropped_gold
            hyp, dropped_hyp = check_link_range(hypotheses[number - 1], src_len, tgt_len, config.hyp, number, config.drop_invalid)
            hypotheses[number - 1] = hyp
            dropped += dropped_hyp
        golds = checked_golds
    return score_alignments(hypotheses, golds, dropped, config.signature())
