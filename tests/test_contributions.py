"""The residual- and LayerNorm-aware cross-attention measures (aligner.contributions).

Hand-computed tiny cases for the L1 contribution and the normalization, and a comparison with a
direct float64 computation from real fairseq's modules (post-norm and pre-norm fixtures): value
zeroing there is recomputed by running fairseq's own attention module with one value vector zeroed.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch

from aligner.contributions import (
    SubLayer,
    alti_scores,
    cosine_distance,
    l1_contributions,
    normalize_rows,
    res_ln_norm_scores,
    res_norm_scores,
    value_zeroing_scores,
)
from aligner.decisions import DecisionRule, fold_residual


# --- hand-computed cases -----------------------------------------------------------------


def test_l1_contribution_by_hand():
    y = torch.tensor([[[1.0, -2.0, 3.0]]])  # ||y||_1 = 6
    parts = torch.tensor([[[[1.0, -2.0, 0.0], [0.0, 0.0, -1.0], [4.0, 0.0, 0.0]]]])
    # ||y - p||_1: [0,0,3] -> 3; [1,-2,4] -> 7; [-3,-2,3] -> 8
    assert l1_contributions(y, parts).tolist() == [[[3.0, 0.0, 0.0]]]


def test_normalize_rows_by_hand_and_a_row_that_clips_to_zero():
    scores = torch.tensor([[[3.0, 1.0, 0.0, 4.0], [0.0, 0.0, 0.0, 0.0]]])
    result = normalize_rows(scores)
    assert result.tolist() == [[[0.375, 0.125, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0]]]
    assert not torch.isnan(result).any()


def test_alti_row_where_every_contribution_clips_is_defined():
    # Pre-norm, one head, two sources, dim 2. y = T_1 + T_2 + r + b_O = (1,1) + (-1,-1) + (0,0) + (0,0) = 0:
    # every ||y||_1 - ||y - v||_1 = -||v||_1 <= 0 clips to 0, and the row stays 0.
    alpha = torch.tensor([[[[0.5, 0.5]]]])
    values = torch.tensor([[[[2.0, 2.0], [-2.0, -2.0]]]])
    block = SubLayer(residual=torch.zeros(1, 1, 2), out_bias=torch.zeros(2))
    assert alti_scores(alpha, values, block).tolist() == [[[0.0, 0.0, 0.0]]]


def test_alti_pre_norm_by_hand():
    # T_1 = 0.5 * (2, 0) = (1, 0), T_2 = 0.5 * (0, 2) = (0, 1), r = (1, 1), b_O = (0, 0): y = (2, 2), ||y||_1 = 4.
    # c_1 = 4 - ||(1, 2)||_1 = 1; c_2 = 1; c_r = 4 - ||(1, 1)||_1 = 2; normalized 0.25, 0.25, 0.5.
    alpha = torch.tensor([[[[0.5, 0.5]]]])
    values = torch.tensor([[[[2.0, 0.0], [0.0, 2.0]]]])
    block = SubLayer(residual=torch.tensor([[[1.0, 1.0]]]), out_bias=torch.zeros(2))
    assert alti_scores(alpha, values, block).tolist() == [[[0.25, 0.25, 0.5]]]


def test_layer_norm_linearization_sums_to_the_layer_norm():
    torch.manual_seed(0)
    alpha = torch.softmax(torch.randn(2, 3, 4, 5, dtype=torch.float64), dim=-1)
    values = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    block = SubLayer(torch.randn(2, 4, 8, dtype=torch.float64), torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64), 1e-5)
    from aligner.contributions import centered, layer_output, pre_norm_sum, row_scale

    z = pre_norm_sum(alpha, values, block)
    parts = torch.einsum("bhts,bhsd->btsd", alpha, values)
    scale = row_scale(z, block)
    rebuilt = (centered(parts, block) / scale.unsqueeze(2)).sum(2) + (centered(block.residual, block) + centered(block.out_bias, block)) / scale + block.beta
    expected = torch.nn.functional.layer_norm(z, (8,), block.gamma, block.beta, 1e-5)
    torch.testing.assert_close(layer_output(z, block), expected)
    torch.testing.assert_close(rebuilt, expected)


def test_chunking_does_not_change_the_result():
    torch.manual_seed(1)
    alpha = torch.softmax(torch.randn(2, 2, 3, 7), dim=-1)
    values = torch.randn(2, 2, 7, 4)
    block = SubLayer(torch.randn(2, 3, 4), torch.randn(4), torch.rand(4) + 0.5, torch.randn(4))
    for measure in (alti_scores, value_zeroing_scores):
        torch.testing.assert_close(measure(alpha, values, block, chunk_elements=1), measure(alpha, values, block))


def test_cosine_distance_by_hand():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 3.0], [2.0, 2.0]])
    torch.testing.assert_close(cosine_distance(a, b), torch.tensor([1.0, 0.0]))


@pytest.mark.parametrize(
    "residual_null, eos_null, expected",
    [(False, True, [[1, 2, 3], [4, 5, 6]]), (True, True, [[1, 2, 9], [4, 5, 6]]), (True, False, [[1, 2, 9], [4, 5, 0]])],
)
def test_fold_residual(residual_null, eos_null, expected):
    matrix = np.array([[1.0, 2.0, 3.0, 9.0], [4.0, 5.0, 6.0, 0.0]])
    assert fold_residual(matrix, residual_null, eos_null).tolist() == expected


def test_residual_column_wins_means_no_link_only_with_residual_null():
    matrix = np.array([[0.2, 0.1, 0.0, 0.7], [0.5, 0.1, 0.0, 0.4]])
    dropped = DecisionRule().links(matrix, residual=True)
    as_null = DecisionRule(residual_null=True).links(matrix, residual=True)
    assert [(l.src, l.tgt) for l in dropped] == [(0, 0), (0, 1)]
    assert [(l.src, l.tgt) for l in as_null] == [(0, 1)]


# --- against real fairseq ------------------------------------------------------------------

needs_fairseq = pytest.mark.skipif(os.environ.get("ALIGNER_SKIP_PARITY") == "1", reason="ALIGNER_SKIP_PARITY=1")


def fairseq_sub_layers(model, src, prev):
    """Per decoder layer, from fairseq's run: the residual r, the sub-layer output y, the encoder states."""
    captured: dict[int, dict[str, torch.Tensor]] = {}
    handles = []
    pre_norm = model.decoder.layers[0].normalize_before
    for index, layer in enumerate(model.decoder.layers):
        store = captured.setdefault(index, {})

        def before_attention(module, args, kwargs, store=store):
            store["query"] = (kwargs.get("query", args[0] if args else None)).transpose(0, 1)

        def around_norm(module, args, output, store=store):
            store["norm_in"], store["norm_out"] = args[0].transpose(0, 1), output.transpose(0, 1)

        handles.append(layer.encoder_attn.register_forward_pre_hook(before_attention, with_kwargs=True))
        handles.append(layer.encoder_attn_layer_norm.register_forward_hook(around_norm))
    try:
        with torch.no_grad():
            encoder_out = model.encoder(src, src_lengths=src.ne(1).sum(dim=1))
            model.decoder(prev, encoder_out=encoder_out, features_only=True)
    finally:
        for handle in handles:
            handle.remove()
    encoder_states = encoder_out["encoder_out"][0].transpose(0, 1)
    for store in captured.values():
        # Pre-norm: LN(r) is the attention's query, r the norm's input; post-norm: r is the query.
        store["residual"] = store["norm_in"] if pre_norm else store["query"]
    return captured, encoder_states, pre_norm


def reference_measures(layer, residual, encoder_states, padding_mask, pre_norm):
    """The four measures in float64 from fairseq's own modules, materializing every vector."""
    attention = copy.deepcopy(layer.encoder_attn).double()
    norm = copy.deepcopy(layer.encoder_attn_layer_norm).double()
    r, enc = residual.double(), encoder_states.double()
    query = norm(r) if pre_norm else r

    def sub_layer_output(zero: int | None = None):
        handle = None
        if zero is not None:
            def zero_value(module, args, output):
                output = output.clone()
                output[zero] = 0  # time-first: source position `zero`, every head, value bias included
                return output

            handle = attention.v_proj.register_forward_hook(zero_value)
        try:
            output, weights = attention(
                query=query.transpose(0, 1), key=enc.transpose(0, 1), value=enc.transpose(0, 1),
                key_padding_mask=padding_mask, static_kv=True, need_weights=True, need_head_weights=True,
            )
        finally:
            if handle is not None:
                handle.remove()
        z = r + output.transpose(0, 1)
        return (z if pre_norm else norm(z)), z, weights.transpose(0, 1).double()

    y, z, alpha = sub_layer_output()
    heads, head_dim = attention.num_heads, attention.head_dim
    v = attention.v_proj(enc).view(*enc.shape[:2], heads, head_dim)
    f = torch.einsum("bshd,chd->bhsc", v, attention.out_proj.weight.view(-1, heads, head_dim))
    vectors = torch.cat([torch.einsum("bhts,bhsc->btsc", alpha, f), r.unsqueeze(2)], dim=2)  # sources, then r
    if pre_norm:
        linear = vectors
    else:
        scale = torch.sqrt(z.var(dim=-1, unbiased=False, keepdim=True) + norm.eps).unsqueeze(2)
        linear = norm.weight * (vectors - vectors.mean(dim=-1, keepdim=True)) / scale

    alti = (y.abs().sum(-1, keepdim=True) - (y.unsqueeze(2) - linear).abs().sum(-1)).clamp_min(0)
    zeroed = [sub_layer_output(j)[0] for j in range(enc.size(1))]
    without_residual = (z - r) if pre_norm else norm(z - r)
    distances = [1 - torch.cosine_similarity(y, other, dim=-1) for other in zeroed + [without_residual]]
    vz = torch.stack(distances, dim=-1)

    def rows(s):
        return s / s.sum(-1, keepdim=True)

    return {
        "alti-xattn": rows(alti),
        "attn-res-norm": torch.linalg.vector_norm(vectors, dim=-1),
        "attn-res-ln-norm": torch.linalg.vector_norm(linear, dim=-1),
        "value-zeroing": rows(vz),
    }


@needs_fairseq
@pytest.mark.parametrize("bundle_name", ["toy-deen", "prenorm-bpe"])
def test_measures_match_direct_float64_computation_from_fairseq_modules(bundle_name):
    from aligner.config import AlignConfig
    from aligner.pipeline import Aligner

    from .conftest import FIXTURES
    from .test_parity import fairseq_model, sample_batch

    aligner = Aligner(AlignConfig(path=FIXTURES[bundle_name], device="cpu"))
    reference = fairseq_model(FIXTURES[bundle_name])
    src, prev = sample_batch(aligner)
    captured, encoder_states, pre_norm = fairseq_sub_layers(reference, src, prev)
    assert pre_norm == (bundle_name == "prenorm-bpe")
    with torch.inference_mode():
        ours = aligner.engine.backend.model.forced_decode(src, prev, layers=None)
    padding = src.eq(1)
    real_rows = prev.ne(1)
    real = torch.cat([src.ne(1), torch.ones_like(src[:, :1], dtype=torch.bool)], dim=1)[:, None, :] & real_rows[:, :, None]
    functions = {"alti-xattn": alti_scores, "attn-res-norm": res_norm_scores, "attn-res-ln-norm": res_ln_norm_scores, "value-zeroing": value_zeroing_scores}
    for index, layer in enumerate(reference.decoder.layers):
        internals = ours.cross_attention[index]
        assert internals.values is not None and internals.block is not None
        torch.testing.assert_close(internals.block.residual[real_rows], captured[index]["residual"][real_rows], rtol=1e-5, atol=1e-5)
        with torch.no_grad():
            expected = reference_measures(layer, captured[index]["residual"], encoder_states, padding if padding.any() else None, pre_norm)
        for name, function in functions.items():
            mine = function(internals.alpha, internals.values, internals.block).double()
            theirs = expected[name]
            scale = theirs[real].abs().max()
            difference = ((mine[real] - theirs[real]).abs() / scale).max().item()
            assert difference <= 1e-5, f"layer {index + 1} {name}: differs by {difference:.2e} of the largest value"


# --- the Hugging Face backend's sub-layer -----------------------------------------------------


@pytest.mark.parametrize("family", ["marian", "fsmt", "m2m100"])  # post-norm, post-norm time-first, pre-norm
def test_hf_sub_layer_rebuilds_the_models_own_output(family, tmp_path):
    from aligner.backends.huggingface.backend import HFSeq2SeqBackend
    from aligner.contributions import layer_output, pre_norm_sum

    from .hf_tiny import CODES, build
    from .test_hf_backend import batches_of, sample_pairs

    backend = HFSeq2SeqBackend.load(build(family, tmp_path, seed=3), src_lang_code=CODES[family][0], tgt_lang_code=CODES[family][1],
                                    hash_cache=tmp_path / "h.json")
    layer = backend.decoder_layers[0]
    # Post-norm: the LayerNorm after the cross-attention gives y; pre-norm: y enters the feed-forward block's LayerNorm.
    watched = layer.final_layer_norm if backend.family.pre_norm else layer.encoder_attn_layer_norm
    seen: list[torch.Tensor] = []

    def keep(module, args, output):
        value = args[0] if backend.family.pre_norm else output
        seen.append(value.transpose(0, 1) if backend.family.time_first else value)

    handle = watched.register_forward_hook(keep)
    try:
        group, batch = next(iter(batches_of(backend, sample_pairs(6), 6)))
        decoding = backend.forced_decode(batch.src_ids, batch.src_mask, batch.decoder_input_ids, [0, 1], need_values=True)
    finally:
        handle.remove()
    cross = decoding.cross_attention[0]
    assert cross.block is not None and cross.values is not None and cross.block.post_norm == (not backend.family.pre_norm)
    rebuilt = layer_output(pre_norm_sum(cross.alpha, cross.values.float(), cross.block.float()), cross.block.float())
    for row, pair in enumerate(group):
        steps = len(backend.layout.decoder_ids(pair.tgt.ids))
        torch.testing.assert_close(rebuilt[row, :steps], seen[0][row, :steps].float(), rtol=1e-5, atol=1e-5)
