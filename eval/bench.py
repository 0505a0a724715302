"""Throughput benchmark: aligner against the paper's way and against fairseq's own forward pass.

Every configuration runs in a fresh process on the same model and pairs, one after another in
one run, and reports the seconds of its alignment loop (model loading and imports excluded);
the parent reads each child's peak RSS (``ru_maxrss``) from ``wait4``. On a shared CPU only the
ratios measured in one run mean something; absolute pairs/s are context.

    python eval/bench.py --out eval/results/bench.md     # shipped bundle, 2,000 distinct newstest2014 pairs
    python eval/bench.py --quick                         # 200 pairs, no scaling runs: checks that it all works

Configurations:
  (a) aligner, batched, with the bundle's own setting (its preset, as `aligner align` with no option)
      and with the last layer instead;
      Also the default setting under the batch shapes aligner's default replaced (``batchings``), in
      one process, interleaved rounds;
  (b) the paper's way: one sentence per forward pass, every decoder layer, the vocabulary
      projection, and the heads x target x source x dim weighted vectors materialized per layer;
  (c) real fairseq (fairseq-fixed): teacher-forced forward passes with the vocabulary projection
      and log-probabilities on the same batches as (a), what ``fairseq-generate
      --score-reference`` pays.
  (d) the floor (``bench_floor.py``), per dtype, in process: this run's ``torch.mm`` rate, the
      FLOPs of the needed layers on the exact batches, the bare forward of those layers, and
      aligner on the same pairs; the padding share of the batches;
  (e) whole processes, imports and loading included: ``aligner align`` (float32, bfloat16) and
      ``fairseq-generate --score-reference`` (``bench_fairseq.py``; if fairseq is installed).
Then (a) with the default setting through the CLI at 1k, 10k and 100k pairs (the corpus repeated),
for time and peak RSS scaling.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench_* helpers beside this file

from bench_fairseq import child_fairseq_generate, fairseq_available  # noqa: E402
from bench_floor import child_floor, floor_lines, matmul_rate  # noqa: E402
from newstest import write_newstest  # noqa: E402

from aligner.choices import DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS  # noqa: E402


# --- children ---------------------------------------------------------------------------


def load_pairs(src: str, tgt: str, count: int):
    from aligner.io import read_parallel

    return list(itertools.islice(itertools.cycle(list(read_parallel(src, tgt))), count))


def default_aligner(args, dtype: str = "float32", **overrides):
    """The aligner ``aligner align --path MODEL`` runs with no setting option: the bundle's own preset."""
    from aligner.pipeline import Aligner

    return Aligner.from_pretrained(args.model, device=args.device, max_tokens=args.max_tokens, batch_size=args.batch_size, dtype=dtype, **overrides)


def child_aligner(args, layer_choice: str, dtype: str = "float32") -> dict:
    overrides = {}
    if layer_choice == "last":
        overrides = {"layers": (default_aligner(args).engine.info.decoder_layers,), "heads": ()}
    aligner = default_aligner(args, dtype, **overrides)
    pairs = load_pairs(args.src, args.tgt, args.pairs)
    for _ in aligner.align(pairs[: args.warmup]):  # on a GPU: the CUDA context and kernel plans, off the clock
        pass
    started = time.perf_counter()
    links = sum(len(result.links) for result in aligner.align(pairs))
    config = aligner.config
    return {"seconds": time.perf_counter() - started, "pairs": len(pairs), "links": links, "layer": config.layers[0],
            "measure": config.measure, "step": config.step}


def batchings(args) -> list[dict]:
    """This run's batching first, then those aligner's defaults replaced: the CLI's (32 pairs, no
    token budget) and this bench's (1,000 pairs, 4,000 tokens)."""
    return [{"batch_size": args.batch_size, "max_tokens": args.max_tokens}, {"batch_size": 32, "max_tokens": None},
            {"batch_size": 1000, "max_tokens": 4000}]


def child_batching(args) -> dict:
    """The default setting under each of ``batchings``, one engine, interleaved rounds, first ``args.batching_pairs`` pairs."""
    from aligner.pipeline import Aligner

    reference = default_aligner(args)
    pairs = load_pairs(args.src, args.tgt, min(args.pairs, args.batching_pairs))
    aligners = [(shape, Aligner(reference.config.replace(**shape), engine=reference.engine)) for shape in batchings(args)]
    seconds: list[list[float]] = [[] for _ in aligners]
    for _ in range(args.batching_rounds):
        for index, (_, aligner) in enumerate(aligners):
            started = time.perf_counter()
            for _ in aligner.align(pairs):
                pass
            seconds[index].append(time.perf_counter() - started)
    return {"pairs": len(pairs), "rounds": args.batching_rounds,
            "rows": [{**shape, "seconds": times} for (shape, _), times in zip(aligners, seconds)]}


def child_paper(args) -> dict:
    """One sentence at a time, all layers, vocabulary projection, weighted vectors materialized."""
    import numpy as np
    import torch

    from aligner.config import AlignConfig
    from aligner.decisions import argmax_links
    from aligner.backends.fairseq import collate
    from aligner.engine import select_rows
    from aligner.pipeline import Aligner
    from aligner.merge import merge_to_words, spans_from_counts

    aligner = Aligner(AlignConfig(path=args.model, device=args.device))
    model, dictionary = aligner.engine.backend.model, aligner.engine.backend.resources.target_dictionary
    output_embedding = model.decoder_embed_tokens.weight
    pairs = load_pairs(args.src, args.tgt, args.pairs)

    def paper_links(pairs) -> int:
        links = 0
        with torch.inference_mode():
            for index, pair in enumerate(pairs):
                encoded = aligner.encode(index, pair)
                if not encoded.runnable:
                    continue
                src, prev = collate([encoded], dictionary.pad, dictionary.eos, aligner.device)
                decoding = model.forced_decode(src, prev, layers=None, need_values=True)
                torch.log_softmax(decoding.features @ output_embedding.T, dim=-1)
                per_layer = {}
                for layer, internals in decoding.cross_attention.items():
                    weighted = internals.alpha.unsqueeze(-1) * internals.values.unsqueeze(2)  # (1, H, T, S, d)
                    per_layer[layer] = (torch.linalg.vector_norm(weighted.sum(dim=1), dim=-1), torch.linalg.vector_norm(weighted, dim=-1))
                scores = per_layer[aligner.config.layers[0] - 1][0][0]
                rows = select_rows(scores, len(encoded.tgt.ids), "awi")[:, : len(encoded.src.ids) + 1].cpu().numpy()
                words = merge_to_words(rows, spans_from_counts(encoded.src.pieces_per_word), spans_from_counts(encoded.tgt.pieces_per_word))
                links += len(argmax_links(np.asarray(words)))
        return links

    paper_links(pairs[: args.warmup])
    started = time.perf_counter()
    links = paper_links(pairs)
    return {"seconds": time.perf_counter() - started, "pairs": len(pairs), "links": links}


def child_fairseq(args) -> dict:
    import argparse as argparse_module

    import torch
    from fairseq import checkpoint_utils

    from aligner.config import AlignConfig
    from aligner.backends.fairseq import collate
    from aligner.pipeline import Aligner

    aligner = Aligner(AlignConfig(path=args.model, device="cpu", max_tokens=args.max_tokens, batch_size=args.batch_size))
    with torch.serialization.safe_globals([argparse_module.Namespace]):
        models, _, _ = checkpoint_utils.load_model_ensemble_and_task(
            [str(Path(args.model) / "model.pt")], arg_overrides={"data": str(args.model), "source_lang": "de", "target_lang": "en"}
        )
    model = models[0].float().eval()
    dictionary = aligner.engine.backend.resources.target_dictionary
    pairs = load_pairs(args.src, args.tgt, args.pairs)
    encoded = [aligner.encode(index, pair) for index, pair in enumerate(pairs)]
    chunks = [encoded[start : start + aligner.config.chunk_size] for start in range(0, len(encoded), aligner.config.chunk_size)]
    started = time.perf_counter()
    scored = 0
    with torch.inference_mode():
        for chunk in chunks:
            for batch in aligner.batches([p for p in chunk if p.runnable]):
                src, prev = collate(batch, dictionary.pad, dictionary.eos, torch.device("cpu"))
                target = torch.cat([prev[:, 1:], torch.full_like(prev[:, :1], dictionary.pad)], dim=1)
                for row, pair in enumerate(batch):
                    target[row, len(pair.tgt.ids)] = dictionary.eos
                logits, _ = model(src, src.ne(dictionary.pad).sum(dim=1), prev)
                log_probs = model.get_normalized_probs((logits, None), log_probs=True)
                log_probs.gather(-1, target.unsqueeze(-1))
                scored += len(batch)
    return {"seconds": time.perf_counter() - started, "pairs": len(pairs), "scored": scored}


def child_cli(args, dtype: str = "float32", base: int | None = None) -> dict:
    """``aligner align`` end to end on the first ``base`` (``args.scaling_base``) pairs repeated to ``args.pairs`` lines.

    Every size repeats the same base pairs, so the length distribution (which sets the largest
    batch tensors) is the same and any growth of peak memory is due to the corpus size alone.
    """
    with tempfile.TemporaryDirectory() as folder:
        src, tgt = Path(folder) / "src", Path(folder) / "tgt"
        for source, target in ((args.src, src), (args.tgt, tgt)):
            lines = Path(source).read_text(encoding="utf-8").splitlines(keepends=True)[: base or args.scaling_base]
            with open(target, "w", encoding="utf-8") as out:
                out.writelines(itertools.islice(itertools.cycle(lines), args.pairs))
        started = time.perf_counter()
        # The command as a user runs it, in its own process (its peak RSS reaches ours through wait4).
        command = [sys.executable, "-m", "aligner", "align", "--path", str(args.model), "--src", str(src), "--tgt", str(tgt),
                   "-o", str(Path(folder) / "out"), "--device", "cpu", "-q", "--max-tokens", str(args.max_tokens), "--batch-size", str(args.batch_size),
                   "--dtype", dtype, "--threads", str(args.threads)]
        try:
            subprocess.run(command, check=True, cwd=ROOT)
        finally:
            seconds = time.perf_counter() - started
    return {"seconds": seconds, "pairs": args.pairs}


def child_precision(args) -> dict:
    """AER on the RWTH gold with the default setting in float32 and in bfloat16, and how many links agree."""
    from aligner.evaluation.metrics import AlignmentCounts, count_links, scores_from_counts
    from aligner.evaluation.select import load_gold_set

    gold = Path(args.gold_dir)
    test = load_gold_set(str(gold / "deen.lc.src"), str(gold / "deen.lc.tgt"), str(gold / "deen.talp"))
    links = {}
    for dtype in ("float32", "bfloat16"):
        aligner = default_aligner(args, dtype)
        links[dtype] = [{(l.src, l.tgt) for l in result.links} for result in aligner.align(test.pairs)]
    result = {"pairs": len(test.pairs)}
    for dtype, found in links.items():
        counts = sum((count_links(pair, g) for pair, g in zip(found, test.golds)), AlignmentCounts())
        result[f"aer_{dtype}"] = scores_from_counts(counts)[0]
    exact, reduced = links["float32"], links["bfloat16"]
    result["links_float32"] = sum(map(len, exact))
    result["links_shared"] = sum(len(a & b) for a, b in zip(exact, reduced))
    result["pairs_identical"] = sum(a == b for a, b in zip(exact, reduced))
    return result


CHILDREN = {
    "aligner-default": lambda args: child_aligner(args, "default"),
    "aligner-last": lambda args: child_aligner(args, "last"),
    "aligner-bf16": lambda args: child_aligner(args, "default", "bfloat16"),
    "paper": child_paper,
    "batching": child_batching,
    "fairseq": child_fairseq,
    "cli": child_cli,
    "floor-float32": lambda args: child_floor(args, "float32"),
    "floor-bfloat16": lambda args: child_floor(args, "bfloat16"),
    "process-aligner": lambda args: child_cli(args, base=args.pairs),
    "process-aligner-bf16": lambda args: child_cli(args, "bfloat16", base=args.pairs),
    "process-fairseq-generate": child_fairseq_generate,
    "precision": child_precision,
}


# --- parent -----------------------------------------------------------------------------


def run_child(name: str, args, pairs: int) -> dict:
    command = [sys.executable, __file__, "--child", name, "--model", args.model, "--src", args.src, "--tgt", args.tgt,
               "--pairs", str(pairs), "--max-tokens", str(args.max_tokens), "--batch-size", str(args.batch_size),
               "--batching-pairs", str(args.batching_pairs), "--batching-rounds", str(args.batching_rounds), "--scaling-base", str(args.scaling_base),
               "--gold-dir", str(args.gold_dir), "--threads", str(args.threads), "--device", args.device,
               "--warmup", str(args.warmup)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))  # and so every grandchild (CLI, fairseq) too
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT, env=env)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"bench child {name} failed with status {status}")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    timing = f"{result['seconds']:8.2f} s" if "seconds" in result else "untimed"
    print(f"{name:16s} {pairs:7d} pairs  {timing:>10s}  {result['peak_rss_mib']:7.0f} MiB", file=sys.stderr)
    return result


def machine(threads: int) -> str:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} ({threads} thread(s) per configuration), "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def precision_lines(check: dict | None) -> list[str]:
    if check is None:
        return ["(bfloat16 AER check skipped: --quick, or no gold set at --gold-dir)", ""]
    return [
        f"bfloat16 vs float32 at the default layer on the RWTH gold ({check['pairs']} pairs, same model): AER "
        f"{check['aer_float32'] * 100:.2f} vs {check['aer_bfloat16'] * 100:.2f}; {check['links_shared']} of "
        f"{check['links_float32']} float32 links also in bfloat16, {check['pairs_identical']} of {check['pairs']} pairs identical.",
        "",
    ]


def header(args, title: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"Machine: {machine(args.threads)}. CPU only; every configuration in a fresh process, one after another in one run "
        f"({time.strftime('%Y-%m-%d', time.gmtime())}).",
        f"Model: `{args.model}`. Pairs: `{args.src}` / `{args.tgt}`. Batches: --max-tokens {args.max_tokens} --batch-size {args.batch_size}.",
        f"Command: `python eval/bench.py {' '.join(sys.argv[1:])}`.",
        "",
    ]


def ratio_report(args, results: dict) -> str:
    a, last, paper, fairseq = (results[name] for name in ("aligner-default", "aligner-last", "paper", "fairseq"))
    bf16 = results.get("aligner-bf16")
    rate = lambda r: r["pairs"] / r["seconds"]
    bf16_row = [] if bf16 is None else [
        f"| (a) aligner, default setting (layer {bf16['layer']}), `--dtype bfloat16` | {bf16['seconds']:.1f} | {rate(bf16):.1f} | {bf16['peak_rss_mib']:.0f} |"]
    bf16_ratios = [] if bf16 is None else [
        f"- time(b) / time(a, default setting, bfloat16) = **{paper['seconds'] / bf16['seconds']:.1f}** (different precisions: "
        "(b) and (c) run in float32)",
        f"- time(a, float32) / time(a, bfloat16) = **{a['seconds'] / bf16['seconds']:.2f}**",
    ]
    lines = header(args, "Throughput: aligner vs the paper's way vs fairseq's forward pass") + [
        f"{args.pairs} pairs per configuration. (a) runs the bundle's own setting, as `aligner align` with no option does "
        f"(layer {a['layer']}, measure {a['measure']}, step {a['step']}); the last-layer row overrides only the layers (all heads).",
        "",
        *skipped_bf16_lines(results.get("bf16-skipped")),
        "| configuration | seconds | pairs/s | peak RSS (MiB) |",
        "|---|---|---|---|",
        f"| (a) aligner, default setting (layer {a['layer']}) | {a['seconds']:.1f} | {rate(a):.1f} | {a['peak_rss_mib']:.0f} |",
        f"| (a) aligner, last layer {last['layer']} | {last['seconds']:.1f} | {rate(last):.1f} | {last['peak_rss_mib']:.0f} |",
        *bf16_row,
        f"| (b) paper's way (1 sentence/pass, all layers, vocab projection, H x T x S x d vectors) | {paper['seconds']:.1f} | {rate(paper):.1f} | {paper['peak_rss_mib']:.0f} |",
        f"| (c) fairseq forward + vocab projection + log-probs, same batches | {fairseq['seconds']:.1f} | {rate(fairseq):.1f} | {fairseq['peak_rss_mib']:.0f} |",
        "",
        "Ratios (the result; measured side by side in this run):",
        "",
        f"- time(b) / time(a, default setting) = **{paper['seconds'] / a['seconds']:.1f}**",
        f"- time(c) / time(a, default setting) = **{fairseq['seconds'] / a['seconds']:.2f}**",
        f"- time(c) / time(a, last layer) = **{fairseq['seconds'] / last['seconds']:.2f}**",
        *bf16_ratios,
        "",
        *([] if bf16 is None else precision_lines(results.get("precision"))),
        *batching_lines(results.get("batching")),
        "## The floor (in-process)",
        "",
        *floor_lines({name: results[name] for name in ("floor-float32", "floor-bfloat16") if name in results}),
        *process_lines(results),
    ]
    return "\n".join(lines)


def batching_lines(batching: dict | None) -> list[str]:
    """The batch-shape table: median seconds per shape and the median of its per-round ratios to the default."""
    if batching is None:
        return []
    median = lambda values: sorted(values)[len(values) // 2]
    rows = batching["rows"]
    lines = ["## Batch shape (in-process)", "",
             f"The default setting on the first {batching['pairs']} pairs under each batching, one engine, "
             f"{batching['rounds']} interleaved rounds; ratio: the median of the per-round ratios to the default (first row).", "",
             "| --batch-size | --max-tokens | median seconds | time / default |", "|---|---|---|---|"]
    for row in rows:
        ratio = median([t / d for t, d in zip(row["seconds"], rows[0]["seconds"])])
        lines.append(f"| {row['batch_size']} | {row['max_tokens'] or 'none'} | {median(row['seconds']):.2f} | **{ratio:.2f}** |")
    return lines + [""]


def skipped_bf16_lines(skipped: dict | None) -> list[str]:
    if skipped is None:
        return []
    rates = skipped["mm_gflops"]
    return [f"**bfloat16 not run**: this CPU has no bfloat16 matrix hardware (AVX512-BF16 or AMX), so oneDNN emulates it: a "
            f"`torch.mm` runs at {rates['bfloat16']:.1f} GFLOP/s in bfloat16 against {rates['float32']:.1f} in float32 here. "
            "`--bf16 yes` runs the bfloat16 rows anyway.", ""]


def process_lines(results: dict) -> list[str]:
    """Whole processes: imports, model loading, reading and writing included."""
    rows = [(name, label) for name, label in (
        ("process-aligner", "`aligner align`, default setting, float32"),
        ("process-aligner-bf16", "`aligner align`, default setting, `--dtype bfloat16`"),
        ("process-fairseq-generate", "`fairseq-generate --score-reference` (fairseq's own code, float32)"),
    ) if name in results]
    if not rows:
        return []
    lines = ["## Whole processes", "", "Wall time of the command, from start to exit, imports and model loading included.", "",
             "| command | seconds | pairs/s | peak RSS (MiB) |", "|---|---|---|---|"]
    for name, label in rows:
        r = results[name]
        lines.append(f"| {label} | {r['seconds']:.1f} | {r['pairs'] / r['seconds']:.1f} | {r['peak_rss_mib']:.0f} |")
    a = results.get("process-aligner")
    lines.append("")
    if a and "process-fairseq-generate" in results:
        lines.append(f"- time(aligner align) / time(fairseq-generate --score-reference) = **{a['seconds'] / results['process-fairseq-generate']['seconds']:.2f}**")
    if a and "process-aligner-bf16" in results:
        lines.append(f"- time(float32) / time(bfloat16), whole process = **{a['seconds'] / results['process-aligner-bf16']['seconds']:.2f}**")
    if a and "paper" in results:
        lines.append(f"- time(b, paper's way, in-process loop) / time(aligner align, whole process) = **{results['paper']['seconds'] / a['seconds']:.1f}**")
    return lines + [""]


def scaling_report(args, scaling: dict) -> str:
    lines = header(args, "Scaling of `aligner align` with corpus size") + [
        f"`aligner align` through the CLI, streaming to a file, the bundle's own setting, default --chunk-size 10000; the first "
        f"{args.scaling_base} pairs repeated, so every size has the same sentence lengths; seconds include model loading.",
        "",
        "| pairs | seconds | pairs/s | peak RSS (MiB) |",
        "|---|---|---|---|",
    ]
    for pairs, result in scaling.items():
        lines.append(f"| {pairs} | {result['seconds']:.1f} | {pairs / result['seconds']:.1f} | {result['peak_rss_mib']:.0f} |")
    sizes = sorted(scaling)
    if len(sizes) > 1:
        lines += ["", f"Peak RSS at {sizes[-1]} pairs / at {sizes[0]} pairs = **{scaling[sizes[-1]]['peak_rss_mib'] / scaling[sizes[0]]['peak_rss_mib']:.2f}**"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "aligner" / "models" / "deen-guided"),
                        help="aligner bundle directory (model.pt, dicts, spm, aligner.json) [default: the shipped one]")
    parser.add_argument("--src", help="[default: distinct newstest2014 pairs from --data-dir]")
    parser.add_argument("--tgt")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ALIGNER_DATA", ROOT.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every configuration (OMP_NUM_THREADS)")
    parser.add_argument("--quick", action="store_true", help="200 pairs, no scaling runs or AER check: that every configuration runs")
    # aligner's own defaults (what `aligner align` runs with no option); fairseq gets the same batches
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--batching-pairs", type=int, default=600, help="pairs of the batch-shape comparison (its rounds interleave)")
    parser.add_argument("--batching-rounds", type=int, default=3)
    parser.add_argument("--scaling", default="1000,10000,100000", help="pair counts for the scaling runs ('' to skip)")
    parser.add_argument("--scaling-base", type=int, default=1000, help="the scaling runs repeat this many first pairs")
    parser.add_argument("--gold-dir", type=Path, default=Path(os.environ.get("ALIGNER_DATA", ROOT.parent / "shared" / "data")) / "gold" / "deen",
                        help="RWTH de-en gold (deen.lc.src/tgt, deen.talp) for the bfloat16 AER check; skipped if absent")
    parser.add_argument("--out", type=Path, help="ratio report (Markdown)")
    parser.add_argument("--scaling-out", type=Path, help="scaling report (Markdown)")
    parser.add_argument("--skip-ratios", action="store_true", help="only the scaling runs")
    parser.add_argument("--bf16", choices=("auto", "yes", "no"), default="auto",
                        help="the bfloat16 configurations: auto runs them only where the CPU has bf16 matrix hardware (AVX512-BF16, AMX)")
    parser.add_argument("--device", default="cpu", help="of the aligner and paper's-way children (eval/bench_gpu.py runs them on cuda)")
    parser.add_argument("--warmup", type=int, default=0, help="pairs the aligner and paper's-way children align before timing")
    parser.add_argument("--child", choices=CHILDREN)
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        args.model = Path(args.model)  # AlignConfig(path=) takes a Path
        print(json.dumps(CHILDREN[args.child](args)))
        return
    if args.quick:
        args.pairs, args.scaling = min(args.pairs, 200), ""
    with tempfile.TemporaryDirectory() as folder:
        if args.src is None or args.tgt is None:
            src, tgt = write_newstest(args.data_dir, args.pairs, Path(folder))
            args.src, args.tgt = str(src), str(tgt)
        run_all(args)


def bf16_hardware() -> bool:
    """Whether oneDNN has bfloat16 matrix instructions here (AVX512-BF16 or AMX); elsewhere it emulates them."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def run_all(args) -> None:
    reports = []
    if not args.skip_ratios:
        bf16 = args.bf16 == "yes" or (args.bf16 == "auto" and bf16_hardware())
        names = ["aligner-default", "aligner-last", *(["aligner-bf16"] if bf16 else []), "paper", "fairseq", "batching", "floor-float32",
                 *(["floor-bfloat16"] if bf16 else []), "process-aligner", *(["process-aligner-bf16"] if bf16 else [])]
        if fairseq_available():
            names.append("process-fairseq-generate")
        results = {name: run_child(name, args, args.pairs) for name in names}
        if not bf16:
            results["bf16-skipped"] = {"mm_gflops": {dtype: matmul_rate(dtype) / 1e9 for dtype in ("float32", "bfloat16")}}
        if bf16 and (args.gold_dir / "deen.talp").is_file() and not args.quick:  # --quick: no AER check
            results["precision"] = run_child("precision", args, args.pairs)
        reports.append((ratio_report(args, results), args.out))
    scaling = {int(n): run_child("cli", args, int(n)) for n in args.scaling.split(",") if n}
    if scaling:
        reports.append((scaling_report(args, scaling), args.scaling_out))
    for text, path in reports:
        print(text)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
