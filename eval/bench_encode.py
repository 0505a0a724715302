"""Encoding throughput of the fairseq path with and without the word cache, in one run.

    python eval/bench_encode.py [--pairs 2000] [--repeats 3]

Both sides of the first N distinct newstest2014 pairs through ``Engine.encode``, alternating
cached and uncached runs (a fresh cache each time: a run's own repeats are what it gains from),
and checks that the ids are identical. Reports the median pairs/s of each and their ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from newstest import newstest_pairs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "aligner" / "models" / "deen-guided"))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ALIGNER_DATA", ROOT.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from aligner.config import ModelSource
    from aligner.engine import Engine
    from aligner.io import SentencePair

    engine = Engine.load(ModelSource(path=Path(args.model)), device="cpu")
    resources = engine.backend.resources
    pairs = [SentencePair(src.split(), tgt.split()) for src, tgt in newstest_pairs(args.data_dir, args.pairs)]
    rates: dict[str, list[float]] = {"cached": [], "uncached": []}
    results = {}
    for _ in range(args.repeats):
        for name, size in (("uncached", 0), ("cached", 200_000)):
            for side in ("source_preprocessor", "target_preprocessor"):
                fresh = dataclasses.replace(getattr(resources, side), cache_size=size, _caches={})
                object.__setattr__(resources, side, fresh)  # ModelResources is frozen; this is a bench, not the library
            started = time.perf_counter()
            encoded = [engine.encode(index, pair) for index, pair in enumerate(pairs)]
            rates[name].append(len(pairs) / (time.perf_counter() - started))
            results[name] = [(e.src, e.tgt) for e in encoded]
    identical = results["cached"] == results["uncached"]
    cached, uncached = statistics.median(rates["cached"]), statistics.median(rates["uncached"])
    words = sum(len(p.src) + len(p.tgt) for p in pairs)
    print(f"{len(pairs)} pairs ({words} words), median of {args.repeats}: uncached {uncached:.0f} pairs/s, "
          f"cached {cached:.0f} pairs/s, ratio {cached / uncached:.2f}; ids identical: {identical}")


if __name__ == "__main__":
    main()
