"""The names a setting can take (measures, steps, merges, decisions, ...): light, no torch, no numpy.

The CLI builds its choices from here, so ``aligner --help`` imports nothing heavy.
"""

from __future__ import annotations

# The last four are single-layer cross-attention measures of aligner.contributions: their word
# matrices carry one more column, the residual, after the source </s>.
MEASURES = ("weight", "norm", "alti-xattn", "attn-res-norm", "attn-res-ln-norm", "value-zeroing")
RESIDUAL_MEASURES = MEASURES[2:]
PER_HEAD_MEASURES = ("weight", "norm")  # the residual and the LayerNorm belong to the layer, not a head
STEPS = ("awi", "awo")  # rows of the causal teacher-forced pass, which every model runs
# The row that predicts each target piece, from a decoder pass without the causal mask (every
# target piece visible): how models trained with fairseq's --full-context-alignment (Garg et al.
# 2019) were taught to align. It costs a second forward pass when asked for beside awi or awo.
FULL_CONTEXT_STEP = "full"
ALL_STEPS = (*STEPS, FULL_CONTEXT_STEP)
MERGES = ("sum", "mean", "max")
# Decisions that grow the agreement of one matrix's two argmax directions (``argmax-both``) as
# word aligners grow the agreement of two models; each names the symmetrization it applies.
GROWN_DECISIONS = {"argmax-grow-diag": "grow-diag", "argmax-grow-diag-final-and": "grow-diag-final-and"}
DECISIONS = ("argmax", "argmax-source", "argmax-both", *GROWN_DECISIONS, "threshold")
NORMALIZATIONS = ("rows", "columns")
SYMMETRIZATIONS = ("intersect", "union", "grow-diag", "grow-diag-final", "grow-diag-final-and")
DEVICES = ("cpu", "cuda", "auto")
DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}  # name -> signature label
# A token budget bounds a batch's memory whatever the sentence lengths (32 pairs of long sentences
# made batches of thousands of tokens), and ~1,000 padded tokens keep one layer's activations in a
# CPU core's caches: on one thread 1.2x faster than 4,000-token batches, 1.0-1.07x than 32 pairs a
# batch (eval/results/bench.md, "Batch shape"). A GPU wants far more (--max-tokens 16000).
DEFAULT_BATCH_SIZE = 256
DEFAULT_MAX_TOKENS = 1000


def check_choice(name: str, value: object, allowed) -> None:
    """Refuse a setting outside its choices, naming the setting and what it may be."""
    from .errors import ConfigError

    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
