"""eval/results/deen-measures.md: per-layer AER of every measure x {AWO, AWI}, the dev-chosen best, costs.

    python eval/deen_measures.py [--models deen-guided,deen-small] [--cost-pairs 2000]

For each shipped model: `aligner sweep`'s layer-level sweep (aligner.evaluation.sweep.run_sweep,
argmax decision, ``</s>`` as null, sum/mean merges) on the RWTH test gold (508 pairs, lowercased
text) and on the dev set deen_bicici100; for every measure (and residual rule) the dev-chosen
(layer, step) reported on the test set; beside the ALTI+ notebook's numbers. Then the cost of each
measure relative to ``norm`` on newstest2014 pairs: one run, measures interleaved batch by batch
(the machine is loaded, so only the ratios mean something), one thread.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from aligner.choices import MEASURES
from aligner.config import AlignConfig
from aligner.evaluation.select import load_gold_set
from aligner.evaluation.sweep import SweepResult, run_sweep
from aligner.extraction import ScoreRequest
from aligner.io import SentencePair
from aligner.pipeline import Aligner

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ALIGNER_DATA", ROOT.parent / "shared" / "data"))

# Ferrando et al. 2022, AER.ipynb (one Europarl de-en model, seed 9819), layers 1-6.
NOTEBOOK = {
    ("awi", "ALTI+ contributions"): (47.1, 26.0, 36.1, 85.5, 83.1, 84.4),
    ("awi", "attention weights"): (61.7, 28.2, 46.4, 90.3, 93.2, 94.0),
    ("awo", "ALTI+ contributions"): (85.2, 85.6, 69.5, 47.8, 38.9, 51.6),
    ("awo", "attention weights"): (91.8, 88.6, 67.6, 49.9, 50.5, 64.2),
}


def bundle_dir(name: str) -> Path:
    """A shipped bundle by name: the default one is package data, the others stay in data/models."""
    for folder in (ROOT / "aligner" / "models", ROOT / "data" / "models"):
        if (folder / name).is_dir():
            return folder / name
    raise SystemExit(f"no bundle named {name} under aligner/models or data/models")


def notebook_table() -> str:
    lines = ["| ALTI+ notebook (their model) | L1 | L2 | L3 | L4 | L5 | L6 |", "|---|---|---|---|---|---|---|"]
    for (step, name), values in NOTEBOOK.items():
        lines.append(f"| {step.upper()} {name} | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    return "\n".join(lines)


def dev_chosen(dev: SweepResult, test: SweepResult) -> str:
    """Per measure and residual rule, the (layer, step) best on dev, and its test AER."""
    lines = ["| measure | chosen on dev | dev AER | test AER | best test layer (AER) |", "|---|---|---|---|---|"]
    for setting in dict.fromkeys(row.setting for row in dev.rows):
        rows = [r for r in dev.rows if r.setting == setting and r.head is None]
        best = min(rows, key=lambda r: (r.aer, r.layer))
        same = next(r for r in test.rows if r.setting == setting and r.head is None and r.layer == best.layer and r.step == best.step)
        oracle = min((r for r in test.rows if r.setting == setting and r.head is None), key=lambda r: (r.aer, r.layer))
        lines.append(
            f"| {setting} | L{best.layer} {best.step.upper()} | {best.aer * 100:.1f} | {same.aer * 100:.1f} "
            f"| L{oracle.layer} {oracle.step.upper()} ({oracle.aer * 100:.1f}) |"
        )
    return "\n".join(lines)


def costs(aligner: Aligner, pairs: list[SentencePair], layer: int) -> dict[str, float]:
    """Seconds per measure over ``pairs`` (forward pass included), measures interleaved per batch."""
    encoded = [aligner.encode(index, pair) for index, pair in enumerate(pairs)]
    seconds = dict.fromkeys(MEASURES, 0.0)
    for batch in aligner.batches([pair for pair in encoded if pair.runnable]):
        for measure in MEASURES:
            start = time.perf_counter()
            aligner.word_scores(batch, [ScoreRequest(layer, None, measure, "awi")])
            seconds[measure] += time.perf_counter() - start
    return seconds


def newstest_pairs(limit: int) -> list[SentencePair]:
    base = DATA / "train" / "deen" / "more"
    with open(base / "all.origin", encoding="utf-8") as origin, open(base / "all.de", encoding="utf-8") as de, open(base / "all.en", encoding="utf-8") as en:
        pairs = [SentencePair(tuple(d.split()), tuple(e.split())) for o, d, e in zip(origin, de, en) if o.strip().endswith("newstest2014")]
    return [pair for pair in pairs if pair.src and pair.tgt][:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="deen-guided,deen-small")
    parser.add_argument("--cost-pairs", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "deen-measures.md")
    args = parser.parse_args()
    torch.set_num_threads(1)

    gold = DATA / "gold"
    test = load_gold_set(str(gold / "deen/deen.lc.src"), str(gold / "deen/deen.lc.tgt"), str(gold / "deen/deen.talp"))
    dev = load_gold_set(str(gold / "deen_bicici100/test.de"), str(gold / "deen_bicici100/test.en"),
                        str(gold / "deen_bicici100/de-en.wa"), one_based=False, drop_invalid=True)
    news = newstest_pairs(args.cost_pairs)
    parts = [
        "# Residual- and LayerNorm-aware cross-attention measures on the shipped de-en models",
        "",
        f"Produced by `make deen-measures` (`eval/deen_measures.py`). Test: RWTH deen gold ({len(test.golds)} pairs, lowercased);"
        f" dev: deen_bicici100 ({len(dev.golds)} pairs). Argmax decision, `</s>` as null; `+null`: the residual column competes like"
        " `</s>` (a row it wins gets no link), else it is dropped. AER in %, layer level (no per-head rows).",
        "",
        notebook_table(),
        "",
    ]
    sections: dict[str, list[str]] = {}

    def write() -> None:
        args.out.write_text("\n".join(parts + [line for section in sections.values() for line in section]) + "\n")

    aligners = {name: Aligner(AlignConfig(path=bundle_dir(name), device="cpu", batch_size=32)) for name in args.models.split(",")}
    for name, aligner in aligners.items():  # the AER first, written as soon as each is known; costs last
        started = time.perf_counter()
        on_test = run_sweep(aligner, test.pairs, test.golds, per_head=False)
        on_dev = run_sweep(aligner, dev.pairs, dev.golds, per_head=False)
        sections[name] = [
            f"## {name}",
            "",
            "Test set, per layer:",
            "",
            on_test.layer_table(),
            "",
            "Dev-chosen (layer, step) of each measure, on the test set:",
            "",
            dev_chosen(on_dev, on_test),
            "",
            f"(both sweeps: {time.perf_counter() - started:.0f} s)  `{on_test.signature}`",
            "",
        ]
        write()
        print(f"{name}: sweeps done", flush=True)
    for name, aligner in aligners.items():
        if not args.cost_pairs:
            break
        seconds = costs(aligner, news, layer=1)
        ratio = " | ".join(f"{seconds[m] / seconds['norm']:.2f}" for m in MEASURES)
        sections[name] += [
            f"Cost of {name} relative to `norm` (layer 2, AWI, forward pass included, {len(news)} newstest2014 pairs,"
            f" one thread, one run, measures interleaved batch by batch; norm took {seconds['norm']:.1f} s):",
            "",
            "| " + " | ".join(MEASURES) + " |",
            "|---" * len(MEASURES) + "|",
            f"| {ratio} |",
            "",
        ]
        write()
        print(f"{name}: costs done", flush=True)


if __name__ == "__main__":
    main()
