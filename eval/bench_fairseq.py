"""The fairseq baseline of ``eval/bench.py``: ``fairseq-generate --score-reference`` as a whole process.

What a fairseq user runs today to get the model's teacher-forced pass over given pairs. The
pairs are SentencePiece-encoded with the bundle's model and binarized with its dictionaries
first (untimed: a user does that once); then fairseq-generate runs, timed from start to exit,
imports and model loading included, like ``aligner align`` in the whole-process rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# torch >= 2.6 loads checkpoints weights-only; fairseq's hold an argparse.Namespace. Allowing that
# one class (not unsafe unpickling) lets an unmodified fairseq 0.12 read our checkpoints.
LAUNCH = ("import argparse, sys, torch; torch.serialization.add_safe_globals([argparse.Namespace]); "
          "from fairseq_cli.generate import cli_main; sys.argv[0] = 'fairseq-generate'; cli_main()")


def fairseq_available() -> bool:
    try:
        import fairseq  # noqa: F401
    except ImportError:
        return False
    return True


def child_fairseq_generate(args) -> dict:
    import sentencepiece

    bundle = Path(args.model)
    processor = sentencepiece.SentencePieceProcessor()
    processor.Load(str(bundle / "spm.model"))
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        count = 0
        for lang, path in (("de", args.src), ("en", args.tgt)):
            lines = Path(path).read_text(encoding="utf-8").splitlines()[: args.pairs]
            count = len(lines)
            pieces = processor.encode([line.lower() for line in lines], out_type=str)
            (work / f"test.{lang}").write_text("".join(" ".join(p) + "\n" for p in pieces), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "fairseq_cli.preprocess", "--source-lang", "de", "--target-lang", "en",
                        "--testpref", str(work / "test"), "--srcdict", str(bundle / "dict.de.txt"), "--tgtdict",
                        str(bundle / "dict.en.txt"), "--destdir", str(work / "bin"), "--workers", "1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        command = [sys.executable, "-c", LAUNCH, str(work / "bin"), "--path", str(bundle / "model.pt"), "--score-reference",
                   "--gen-subset", "test", "--max-tokens", str(args.max_tokens), "--batch-size", str(args.batch_size), "--cpu", "--source-lang", "de",
                   "--target-lang", "en", "--task", "translation", "--quiet"]
        started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"fairseq-generate failed:\n{done.stderr[-2000:]}")
    return {"seconds": seconds, "pairs": count}
