"""Training speed of candidate model sizes on this machine: the cost side of the size/depth choice.

    python eval/arch_speed.py [--updates 30] [--out eval/results/arch-speed.md]

Each configuration trains from scratch for a few updates in a fresh `fairseq-train` process (one
thread, no checkpoints, no validation) on the recipe's data, one after another in one run; the
target pieces/s and updates/s of its last logged interval (after the first, which includes start-up)
are reported. Which size *aligns* sooner per hour also depends on how many updates each needs, which
only full training runs show (eval/results/deen-training-curve.md for the chosen 6+6 d=256 model).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = Path.home() / ".cache/aligner/train/deen"
CONFIGS = {  # name: (encoder layers, decoder layers, d, FFN, heads)
    "6+6 d=256 (trained)": (6, 6, 256, 1024, 4),
    "3+3 d=256": (3, 3, 256, 1024, 4),
    "6+6 d=512 (paper's transformer_iwslt_de_en size)": (6, 6, 512, 1024, 4),
}
INNER = re.compile(r"\| train_inner \|.* wps=([\d.]+), ups=([\d.]+).*num_updates=(\d+)")


def measure(layers_enc: int, layers_dec: int, dim: int, ffn: int, heads: int, updates: int) -> dict:
    command = [
        str(ROOT / ".venv/bin/fairseq-train"), str(STATE / "bin"), "--task", "translation", "-s", "de", "-t", "en",
        "--arch", "transformer", "--share-all-embeddings",
        "--encoder-layers", str(layers_enc), "--decoder-layers", str(layers_dec),
        "--encoder-embed-dim", str(dim), "--decoder-embed-dim", str(dim),
        "--encoder-ffn-embed-dim", str(ffn), "--decoder-ffn-embed-dim", str(ffn),
        "--encoder-attention-heads", str(heads), "--decoder-attention-heads", str(heads),
        "--dropout", "0.1", "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr", "5e-4",
        "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "800", "--criterion", "label_smoothed_cross_entropy",
        "--label-smoothing", "0.1", "--max-tokens", "4096", "--max-update", str(updates), "--log-format", "simple",
        "--log-interval", "10", "--num-workers", "0", "--cpu", "--no-save", "--disable-validation", "--seed", "1",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    started = time.perf_counter()
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    intervals = [(float(wps), float(ups), int(n)) for wps, ups, n in INNER.findall(output)]
    wps, ups, _ = intervals[-1]
    return {"wps": wps, "ups": ups, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "eval/results/arch-speed.md")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    results = {}
    for name, config in CONFIGS.items():
        results[name] = measure(*config, args.updates)
        print(f"{name}: {results[name]}", file=sys.stderr)
    reference = results[next(iter(CONFIGS))]
    lines = [
        "# Training speed of candidate model sizes (CPU, one thread)",
        "",
        f"`python eval/arch_speed.py --updates {args.updates}` on {time.strftime('%Y-%m-%d', time.gmtime())}: each size trains "
        "from scratch in a fresh fairseq-train process, one after another; rates are fairseq's own for the last 10 "
        "updates. Joint 8k vocabulary, shared embeddings, 4,096-token batches, float32.",
        "",
        args.note,
        "",
        "| model | target pieces/s | updates/s | relative to 6+6 d=256 |",
        "|---|---|---|---|",
    ]
    for name, result in results.items():
        lines.append(f"| {name} | {result['wps']:.0f} | {result['ups']:.2f} | {result['wps'] / reference['wps']:.2f} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
