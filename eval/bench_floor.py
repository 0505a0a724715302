"""The floor of a setting's forward pass, measured in the bench's own run (``eval/bench.py``).

Three figures for the same pairs, batches, threads and dtype, in one process:

- the machine's matrix-multiply rate: a large ``torch.mm`` (float32, bfloat16), best of a few;
- the FLOPs of the layers the setting needs on the exact batches aligner makes (padded shapes):
  every encoder layer, and the decoder layers up to the deepest one requested, counted from the
  model's dimensions (linear layers and the attention matmuls; softmax, LayerNorm and
  elementwise work are left out, so the floor is a lower bound), hence a floor time;
- the bare forward: the backend's ``cross_attention`` of only those layers under
  ``torch.inference_mode`` on those batches (no tokenization, merging or decisions);

and the in-process aligner time on the same pairs, so that aligner's time can be read as a
multiple of the bare forward and of the floor. Also the padding share of the batches.
"""

from __future__ import annotations

import time
from typing import Sequence


def matmul_rate(dtype_name: str, size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a ``size`` x ``size`` torch.mm in ``dtype_name``, best of ``repeats`` (after a warm-up)."""
    import torch

    dtype = getattr(torch, dtype_name)
    probe = torch.randn(256, 256).to(dtype)
    torch.mm(probe, probe)
    started = time.perf_counter()
    torch.mm(probe, probe)
    if (time.perf_counter() - started) * (size / 256) ** 3 > 1:
        size = 512  # bfloat16 without AVX512-BF16/AMX is emulated, under 1 GFLOP/s: a smaller product says as much
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best, spent = float("inf"), 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        elapsed = time.perf_counter() - started
        best, spent = min(best, elapsed), spent + elapsed
        if spent > 5:  # bfloat16 without AVX512-BF16/AMX is emulated and slow: a few seconds of it are enough
            break
    return 2 * size**3 / best


def batch_flops(batch_size: int, src_len: int, tgt_len: int, model_dim: int, ffn_dim: int, encoder_layers: int,
                deepest: int, need_values: bool = True) -> float:
    """Multiply-add FLOPs (2 per MAC) of one forced-decoding batch with padded lengths ``src_len``, ``tgt_len``.

    ``deepest`` is the 1-based deepest decoder layer asked for. As our forward pass does, the
    layers below it run in full, and the deepest one runs its self-attention and the query and
    key side of its cross-attention (the weights); ``need_values`` adds the per-head value
    vectors in model space (the value projection and each head's slice of the output projection).
    """
    b, s, t, d, f = batch_size, src_len, tgt_len, model_dim, ffn_dim
    linear = lambda tokens, inputs, outputs: 2.0 * b * tokens * inputs * outputs
    attention = lambda queries, keys: 2 * 2.0 * b * queries * keys * d  # Q K^T and alpha V over all heads
    encoder = 4 * linear(s, d, d) + attention(s, s) + linear(s, d, f) + linear(s, f, d)
    self_attention = 4 * linear(t, d, d) + attention(t, t)
    full_decoder = self_attention + 2 * linear(t, d, d) + 2 * linear(s, d, d) + attention(t, s) + linear(t, d, f) + linear(t, f, d)
    last = self_attention + linear(t, d, d) + linear(s, d, d) + attention(t, s) / 2
    values = 2 * linear(s, d, d) if need_values else 0.0
    return encoder_layers * encoder + (deepest - 1) * full_decoder + last + values


def padding_share(batches: Sequence[Sequence]) -> tuple[float, float]:
    """Share of padded positions in the source and the decoder-input tensors of ``batches``."""
    real = [0, 0]
    padded = [0, 0]
    for batch in batches:
        for side, lengths in enumerate(([len(p.src.ids) + 1 for p in batch], [len(p.tgt.ids) + 1 for p in batch])):
            real[side] += sum(lengths)
            padded[side] += max(lengths) * len(lengths)
    return 1 - real[0] / padded[0], 1 - real[1] / padded[1]


def child_floor(args, dtype: str) -> dict:
    """The floor, the bare forward and the in-process aligner time, for the default setting, in one process."""
    import torch

    from bench import default_aligner, load_pairs  # type: ignore[import-not-found]

    aligner = default_aligner(args, dtype)
    engine, config = aligner.engine, aligner.config
    pairs = load_pairs(args.src, args.tgt, args.pairs)
    # First, as a user's run does it: cold word cache, the first batches pay oneDNN's set-up.
    started = time.perf_counter()
    links = sum(len(result.links) for result in aligner.align(pairs))
    in_process = time.perf_counter() - started

    encoded = [p for p in (aligner.encode(index, pair) for index, pair in enumerate(pairs)) if p.runnable]
    chunks = [encoded[start : start + config.chunk_size] for start in range(0, len(encoded), config.chunk_size)]
    batches = [batch for chunk in chunks for batch in aligner.batches(chunk)]
    layers = {layer - 1 for layer in config.layers}
    need_values = config.measure != "weight"

    model = engine.backend.model
    first = model.encoder_layers[0]
    model_dim, ffn_dim = first.fc1.in_features, first.fc1.out_features
    flops = sum(
        batch_flops(len(batch), max(len(p.src.ids) for p in batch) + 1, max(len(p.tgt.ids) for p in batch) + 1, model_dim,
                    ffn_dim, len(model.encoder_layers), max(config.layers), need_values)
        for batch in batches
    )
    rate = matmul_rate(dtype)

    engine.cross_attention(batches[0], layers, need_values)  # warm-up: oneDNN primitives, allocator
    started = time.perf_counter()
    for batch in batches:
        engine.cross_attention(batch, layers, need_values)
    bare = time.perf_counter() - started
    src_padding, tgt_padding = padding_share(batches)
    return {
        "dtype": dtype, "threads": torch.get_num_threads(), "pairs": len(pairs), "batches": len(batches),
        "layer": config.layers[0], "measure": config.measure, "gflop": flops / 1e9, "mm_gflops": rate / 1e9,
        "floor_seconds": flops / rate, "bare_seconds": bare, "seconds": in_process, "links": links,
        "src_padding": src_padding, "tgt_padding": tgt_padding,
    }


def floor_lines(results: dict) -> list[str]:
    """The report's floor table: one row per dtype."""
    lines = [
        "In-process, one process per dtype: the floor (FLOPs of the needed layers on these padded batches / this run's "
        "`torch.mm` rate), the bare forward (the backend's `cross_attention` of those layers under `inference_mode`, same "
        "batches), and `Aligner.align` on the same pairs (encoding, batching, forward, measures, merging, decisions).",
        "",
        "| dtype | threads | GFLOP | mm GFLOP/s | floor s | bare forward s | aligner s | aligner / bare | aligner / floor | bare / floor | padding src / tgt |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.values():
        lines.append(
            f"| {r['dtype']} | {r['threads']} | {r['gflop']:.1f} | {r['mm_gflops']:.1f} | {r['floor_seconds']:.2f} | "
            f"{r['bare_seconds']:.2f} | {r['seconds']:.2f} | **{r['seconds'] / r['bare_seconds']:.2f}** | "
            f"**{r['seconds'] / r['floor_seconds']:.1f}** | {r['bare_seconds'] / r['floor_seconds']:.1f} | "
            f"{r['src_padding']:.1%} / {r['tgt_padding']:.1%} |"
        )
    if {"float32", "bfloat16"} <= {r["dtype"] for r in results.values()}:
        by = {r["dtype"]: r for r in results.values()}
        lines += ["", f"In-process time(float32) / time(bfloat16) = **{by['float32']['seconds'] / by['bfloat16']['seconds']:.2f}** "
                  f"(bare forward: {by['float32']['bare_seconds'] / by['bfloat16']['bare_seconds']:.2f})."]
    if "bfloat16" in {r["dtype"] for r in results.values()}:
        lines += ["", "Where bfloat16 has no hardware support (no AVX512-BF16/AMX) its `torch.mm` rate is emulated and "
                  "no floor: the bfloat16 floor columns mean something only on CPUs that have it."]
    return lines + [""]
