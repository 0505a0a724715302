"""eval/results/deen.md: our per-layer AER on the German-English gold beside the paper's and eflomal's.

    python eval/deen_report.py --path CKPT_OR_BUNDLE [--data-dir BIN --spm SPM.model] [--out eval/results/deen]

Runs the full sweep (every decoder layer and head x {weight, norm} x {AWO, AWI}) on the 508
RWTH pairs (lowercased text, 1-based talp gold), and writes OUT.md / OUT.json with the paper's
table (PROTOCOL.md) and eflomal (eval/results/eflomal.json) beside ours, and a sentence on
whether our model reproduces the paper's direction (norm beats weight at the best AWI layer).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from aligner.config import AlignConfig
from aligner.pipeline import Aligner
from aligner.select import load_gold_set
from aligner.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]

# Kobayashi et al. (2020), AER % mean of 5 seeds, per layer (PROTOCOL.md).
PAPER = {
    ("awo", "weight"): [92.2, 86.5, 63.2, 55.6, 48.4, 64.8],
    ("awo", "norm"): [87.9, 83.0, 61.7, 49.2, 41.4, 53.9],
    ("awi", "weight"): [49.3, 29.8, 56.4, 91.7, 91.2, 93.0],
    ("awi", "norm"): [32.5, 25.0, 51.7, 85.2, 83.5, 84.8],
}


def paper_table() -> str:
    lines = ["| setting / measure | L1 | L2 | L3 | L4 | L5 | L6 |", "|---|---|---|---|---|---|---|"]
    for (step, measure), values in PAPER.items():
        best = min(values)
        cells = [f"**{v}**" if v == best else str(v) for v in values]
        lines.append(f"| {step.upper()} {measure} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def eflomal_rows(path: Path) -> str:
    if not path.is_file():
        return "(eflomal results not found: run `make eflomal-baseline`)"
    record = json.loads(path.read_text())
    rows = record.get("scores", {}).get("deen") or {}
    if not rows:
        return f"(see {path.name})"
    lines = ["| eflomal (same corpus + test text) | AER | P | R |", "|---|---|---|---|"]
    for method, scores in rows.items():
        lines.append(f"| {method} | {scores['aer'] * 100:.1f} | {scores['precision'] * 100:.1f} | {scores['recall'] * 100:.1f} |")
    return "\n".join(lines)


def direction_sentence(result) -> str:
    awi_norm, awi_weight = result.best("norm", "awi"), result.best("weight", "awi")
    at_norm_layer = next(r for r in result.rows if r.head is None and r.step == "awi" and r.measure == "weight" and r.layer == awi_norm.layer)
    margin = (awi_weight.aer - awi_norm.aer) * 100
    facts = (
        f"Best AWI layer by norms: L{awi_norm.layer} at {awi_norm.aer * 100:.1f} (weights at that layer: "
        f"{at_norm_layer.aer * 100:.1f}); best AWI layer by weights: L{awi_weight.layer} at {awi_weight.aer * 100:.1f}. "
    )
    if min(awi_norm.aer, awi_weight.aer) > 0.8:
        # A model whose every layer is near chance says nothing about norms vs weights.
        return facts + "Every AWI layer is near chance level, so this model cannot show the paper's direction either way yet."
    if abs(margin) < 0.5:
        return facts + f"Norms and weights differ by {margin:+.1f} points only: no clear direction."
    if margin > 0:
        return facts + f"Our model reproduces the paper's direction: norms beat weights at the best AWI layer by {margin:.1f} points."
    return facts + f"Our model does NOT reproduce the paper's direction: weights beat norms by {-margin:.1f} points."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", required=True, type=Path)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--spm", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "deen")
    parser.add_argument("--note", default="", help="model status to print above the table (updates, perplexity)")
    args = parser.parse_args()

    data = Path(os.environ.get("ALIGNER_DATA", ROOT.parent / "shared" / "data")) / "gold" / "deen"
    test = load_gold_set(str(data / "deen.lc.src"), str(data / "deen.lc.tgt"), str(data / "deen.talp"))
    aligner = Aligner(AlignConfig(path=args.path, data_dir=args.data_dir, sentencepiece_model=args.spm, lowercase=True,
                                  source_lang="de", target_lang="en", device="cpu"))
    result = run_sweep(aligner, test.pairs, test.golds, per_head=True)
    text = "\n".join([
        "# German-English: per-layer AER, attention weights vs vector norms",
        "",
        f"Gold: RWTH German-English, {test.description}, lowercased text. Argmax per target word, `</s>` as null,",
        "subwords merged sum (source) / mean (target), as in the paper. Command: "
        f"`python eval/deen_report.py --path {args.path}`.",
        "",
        args.note,
        "",
        "## Ours",
        "",
        result.markdown(),
        "## The paper (Kobayashi et al. 2020, mean of 5 seeds)",
        "",
        paper_table(),
        "",
        "## eflomal on the identical corpus plus the test text",
        "",
        eflomal_rows(ROOT / "eval" / "results" / "eflomal.json"),
        "",
        "## Does our model reproduce the paper's direction?",
        "",
        direction_sentence(result),
        "",
    ])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(result.to_json() + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
