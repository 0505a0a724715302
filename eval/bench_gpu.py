"""eval/results/bench-gpu.md: throughput on a GPU, prepared and tested on CPU for a lent device machine.

    python eval/bench_gpu.py --out eval/results/bench-gpu.md            # on the GPU machine
    python eval/bench_gpu.py --device cpu --pairs 40 --max-tokens 500,1000 --out /tmp/b.md   # the check here

Each configuration runs in a fresh process through eval/bench.py's children, on the shipped bundle
and distinct newstest2014 pairs, after a warm-up on the first pairs (CUDA context, cuBLAS plans):
  - aligner with the bundle's own setting, float32 and bfloat16, at several --max-tokens (pairs/s);
  - the paper's way (one sentence per pass, all layers, vocabulary projection, materialized
    vectors), float32, and its ratio to aligner at the default --max-tokens;
  - ``torchrun --standalone --nproc-per-node 1 -m aligner align``: the one-rank smoke test of the
    distributed path (nccl on cuda, gloo on cpu), checked for one output line per input pair.
The absolute pairs/s are the figures a GPU gives; as on CPU, the ratios are measured in one run.

On a lent machine (its python3 holds torch, click, sentencepiece, tqdm, numpy; no network): here,
``make gpu-prep`` writes the pairs and the missing wheels to build/gpu; then one ``run`` with
``carry: ["build/gpu"]`` (the tracked tree, shipped models included, is ~53 MiB of the 64):

    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site build/gpu/whl/*.whl \\
      && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 \\
      && python3 eval/bench_gpu.py --src build/gpu/newstest2014.de --tgt build/gpu/newstest2014.en --out $OUT/bench-gpu.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import run_child  # noqa: E402
from newstest import write_newstest  # noqa: E402


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"CPU ({os.cpu_count()} logical cores), torch {torch.__version__}"


def child_args(args, max_tokens: int) -> argparse.Namespace:
    """What eval/bench.py's ``run_child`` reads, for one --max-tokens (a pair cap high enough not to bind)."""
    return argparse.Namespace(model=args.model, src=args.src, tgt=args.tgt, max_tokens=max_tokens, batch_size=4000, scaling_base=args.pairs,
                              gold_dir=args.data_dir / "gold" / "deen", threads=args.threads, device=args.device, warmup=args.warmup)


def torchrun_smoke(args) -> dict:
    """One rank under torchrun: the distributed code path end to end, one line per pair of the whole --src."""
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.align"
        command = [torchrun, "--standalone", "--nproc-per-node", "1", "-m", "aligner", "align", "--path", args.model,
                   "--src", args.src, "--tgt", args.tgt, "-o", str(out), "--device", args.device, "-q"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        lines = len(out.read_text(encoding="utf-8").splitlines()) if out.exists() else 0
    expected = len(Path(args.src).read_text(encoding="utf-8").splitlines())
    return {"rc": done.returncode, "seconds": seconds, "lines": lines, "expected": expected, "stderr": done.stderr[-2000:]}


def report(args, rows: dict, paper: dict, smoke: dict) -> str:
    tokens = sorted({max_tokens for _, max_tokens in rows})
    lines = [
        "# Throughput on a GPU",
        "",
        f"Device: {device_name(args.device)}. Model: `{Path(args.model).name}` with its own setting. "
        f"{args.pairs} distinct newstest2014 pairs per configuration, each in a fresh process after a warm-up on "
        f"the first {args.warmup} pairs. Command: `python eval/bench_gpu.py {' '.join(sys.argv[1:])}`.",
        "",
        "| --max-tokens | " + " | ".join(f"{dtype} pairs/s" for dtype in args.dtypes) + " |",
        "|---|" + "---|" * len(args.dtypes),
    ]
    for max_tokens in tokens:
        cells = [f"{rows[dtype, max_tokens]['pairs'] / rows[dtype, max_tokens]['seconds']:.0f}" for dtype in args.dtypes]
        lines.append(f"| {max_tokens} | " + " | ".join(cells) + " |")
    base = rows["float32", tokens[0]]
    lines += ["", f"- paper's way (float32, one sentence per pass): {paper['pairs'] / paper['seconds']:.1f} pairs/s; "
              f"time(paper) / time(aligner, float32, --max-tokens {tokens[0]}) = **{paper['seconds'] / base['seconds']:.1f}**"]
    for max_tokens in tokens:
        if "bfloat16" in args.dtypes:
            lines.append(f"- time(float32) / time(bfloat16) at --max-tokens {max_tokens} = "
                         f"**{rows['float32', max_tokens]['seconds'] / rows['bfloat16', max_tokens]['seconds']:.2f}**")
    verdict = "passed" if smoke["rc"] == 0 and smoke["lines"] == smoke["expected"] else "FAILED"
    lines += ["", f"- torchrun, one rank ({'nccl' if args.device.startswith('cuda') else 'gloo'}): {verdict} "
              f"(exit {smoke['rc']}, {smoke['lines']} of {smoke['expected']} lines, {smoke['seconds']:.1f} s whole process)", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "aligner" / "models" / "deen-guided"))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ALIGNER_DATA", ROOT.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--src", help="[default: distinct newstest2014 pairs from --data-dir] (make gpu-prep writes them to build/gpu)")
    parser.add_argument("--tgt")
    parser.add_argument("--warmup", type=int, default=64, help="pairs aligned before the clock starts, in every child")
    parser.add_argument("--max-tokens", default="4000,8000,16000,32000", help="comma-separated; the first is the ratios' base")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--threads", type=int, default=4, help="CPU threads of each child (tokenization, merging)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.dtypes = args.dtypes.split(",")
    with tempfile.TemporaryDirectory() as folder:
        if args.src is None or args.tgt is None:
            src, tgt = write_newstest(args.data_dir, args.pairs, Path(folder))
            args.src, args.tgt = str(src), str(tgt)
        rows = {}
        for max_tokens in map(int, args.max_tokens.split(",")):
            for dtype in args.dtypes:
                rows[dtype, max_tokens] = run_child("aligner-bf16" if dtype == "bfloat16" else "aligner-default",
                                                    child_args(args, max_tokens), args.pairs)
        paper = run_child("paper", child_args(args, int(args.max_tokens.split(",")[0])), args.pairs)
        smoke = torchrun_smoke(args)
    if smoke["rc"] != 0:
        print(smoke["stderr"], file=sys.stderr)
    text = report(args, rows, paper, smoke)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
