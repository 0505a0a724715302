"""eval/results/deen-best.md: each model's best setting, the best symmetrized, and eflomal, chosen on dev.

    python eval/deen_best.py --forward plain=DE_EN_CKPT --forward guided=GUIDED_CKPT [--reverse EN_DE_CKPT] \
        [--data-dir BIN --spm SPM.model]

Settings (layers, measure, step, decision, and for two models the symmetrization method) are
chosen on the separate dev set deen_bicici100 (100 pairs, sure links) by `aligner.evaluation.select`, the
code behind `aligner sweep --select --reverse-path`, and reported on all 508 RWTH test pairs, so
the numbers line up with deen.md. eflomal (eval/results/eflomal.json: the identical corpus plus
the test text, both directions, grow-diag-final-and with our symmetrizer) stands beside them.
The chosen settings are written as presets for `aligner align --preset`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

from aligner.config import AlignConfig
from aligner.pipeline import Aligner
from aligner.evaluation.select import load_gold_set, select_settings

ROOT = Path(__file__).resolve().parents[1]


def eflomal_rows(path: Path) -> list[str]:
    if not path.is_file():
        return ["(eflomal results not found: run `make eflomal-baseline`)"]
    scores = json.loads(path.read_text())["scores"]
    lines = ["| eflomal links | dev AER | test AER | test P | test R |", "|---|---|---|---|---|"]
    for method in ("forward", "reverse", "grow-diag-final-and"):
        dev, test = scores["deen_bicici100"][method], scores["deen"][method]
        lines.append(f"| {method} | {dev['aer'] * 100:.1f} | {test['aer'] * 100:.1f} | {test['precision'] * 100:.1f} | {test['recall'] * 100:.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--forward", required=True, action="append", metavar="NAME=PATH",
                        help="a de->en checkpoint or bundle, named (plain=..., guided=...); repeatable")
    parser.add_argument("--reverse", type=Path, help="en->de checkpoint or bundle: also symmetrized with the first --forward")
    parser.add_argument("--data-dir", type=Path, help="fairseq data dir with the dictionaries (for bare checkpoints)")
    parser.add_argument("--spm", type=Path, help="SentencePiece model (for bare checkpoints)")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "deen-best")
    parser.add_argument("--note", default="", help="model status to print above the table")
    args = parser.parse_args()

    gold = Path(os.environ.get("ALIGNER_DATA", ROOT.parent / "shared" / "data")) / "gold"
    test = load_gold_set(str(gold / "deen/deen.lc.src"), str(gold / "deen/deen.lc.tgt"), str(gold / "deen/deen.talp"))
    dev = load_gold_set(str(gold / "deen_bicici100/test.de"), str(gold / "deen_bicici100/test.en"),
                        str(gold / "deen_bicici100/de-en.wa"), one_based=False, drop_invalid=True)
    test, dev = replace(test, description="deen (508 pairs)"), replace(dev, description="deen_bicici100 (100 pairs)")

    def aligner(path: Path, source: str, target: str) -> Aligner:
        return Aligner(AlignConfig(path=path, data_dir=args.data_dir, sentencepiece_model=args.spm, lowercase=True,
                                   source_lang=source, target_lang=target, device="cpu"))

    forwards = []
    for item in args.forward:
        name, _, path = item.partition("=")
        if not path:
            parser.error(f"--forward {item}: give NAME=PATH")
        forwards.append((name, Path(path)))
    started = time.perf_counter()
    reports, presets = [], []
    for number, (name, path) in enumerate(forwards):
        reverse = aligner(args.reverse, "en", "de") if args.reverse is not None and number == 0 else None
        report, chosen = select_settings(aligner(path, "de", "en"), dev, test, reverse)
        reports.append((name, path, report))
        presets += [(f"{name}.{kind}" if kind != "forward" else name, selection, signature) for kind, selection, signature in chosen]
    seconds = time.perf_counter() - started

    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"forward": {name: str(path) for name, path in forwards}, "reverse": str(args.reverse) if args.reverse else None,
              "dev": dev.description, "test": test.description, "seconds": round(seconds, 1), "presets": {}}
    for kind, selection, signature in presets:
        preset = selection.preset(f"{args.out.name}.{kind}", dev.description, signature)
        args.out.with_suffix(f".{kind}.preset.json").write_text(json.dumps(preset, indent=1) + "\n", encoding="utf-8")
        record["presets"][kind] = preset
    command = "python eval/deen_best.py " + " ".join(f"--forward {name}={path}" for name, path in forwards)
    command += f" --reverse {args.reverse}" if args.reverse else ""
    text = "\n".join([
        "# German-English: each model's best setting, symmetrized, and eflomal",
        "",
        f"Every setting is chosen on the dev set ({dev.description}, sure links only) and reported on the test set "
        f"({test.description}, RWTH gold, sure + possible). AER, precision and recall in %, corpus level; lower AER is better. "
        f"Command: `{command}` ({seconds:.0f} s on CPU).",
        "",
        args.note,
        "",
        *[line for name, path, report in reports
          for line in (f"## {name} (de->en: `{path}`)" + (f", symmetrized with en->de `{args.reverse}`" if args.reverse and name == forwards[0][0] else ""),
                       "", report.rstrip("\n"), "")],
        "## eflomal on the identical corpus plus the test text (eflomal.md)",
        "",
        *eflomal_rows(ROOT / "eval" / "results" / "eflomal.json"),
        "",
        "eflomal's settings are fixed (grow-diag-final-and as the issue asks), not chosen on the dev set.",
        "",
        "Presets: " + ", ".join(f"`{args.out.name}.{kind}.preset.json`" for kind, _, _ in presets)
        + " (`aligner align --path DE_EN [--reverse-path EN_DE] --preset FILE`).",
        "",
    ])
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
