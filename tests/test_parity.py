"""Parity of aligner's forward pass with real fairseq (fairseq-fixed), on fairseq-trained fixtures.

These tests fail, not skip, when fairseq is missing: parity is the project's proof that the
native forward pass is right. Set ALIGNER_SKIP_PARITY=1 to skip them knowingly.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
import torch

from aligner.backends.fairseq.checkpoint import build_model, read_checkpoint
from aligner.config import AlignConfig
from aligner.io import read_parallel
from aligner.measures import head_norm_scores, layer_norm_scores
from aligner.backends.fairseq import collate
from aligner.pipeline import Aligner

from .conftest import FIXTURES, SAMPLE

pytestmark = pytest.mark.parity

if os.environ.get("ALIGNER_SKIP_PARITY") == "1":
    pytest.skip("ALIGNER_SKIP_PARITY=1", allow_module_level=True)

try:
    from fairseq import checkpoint_utils
except ImportError as exc:  # a failure, not a skip: see the module docstring
    raise ImportError(
        f"parity tests need real fairseq (pip install -e '.[fairseq]'), or ALIGNER_SKIP_PARITY=1: {exc}"
    ) from exc


def fairseq_model(bundle: Path):
    with torch.serialization.safe_globals([argparse.Namespace]):
        models, _cfg, _task = checkpoint_utils.load_model_ensemble_and_task(
            [str(bundle / "model.pt")], arg_overrides={"data": str(bundle), "source_lang": "de", "target_lang": "en"}
        )
    return models[0].eval()


def sample_batch(aligner: Aligner, left_pad_source: bool = False):
    """The 20 sample pairs (all of different shapes) as one padded batch."""
    pairs = list(read_parallel(str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")))
    encoded = [aligner.encode(index, pair) for index, pair in enumerate(pairs)]
    dictionary = aligner.engine.backend.resources.target_dictionary
    src, prev = collate(encoded, dictionary.pad, dictionary.eos, torch.device("cpu"))
    if left_pad_source:
        # fairseq's translation task pads sources on the left; positions must not shift.
        src = torch.stack([torch.cat([row[row.eq(dictionary.pad)], row[row.ne(dictionary.pad)]]) for row in src])
    assert len(pairs) >= 16 and len({(len(p.src.ids), len(p.tgt.ids)) for p in encoded}) > 10
    return src, prev


def fairseq_internals(model, src, prev, full_context: bool = False):
    """fairseq's per-layer, per-head cross-attention weights and final decoder features.

    ``full_context``: fairseq's ``full_context_alignment`` pass (no causal mask), as
    ``transformer_align --full-context-alignment`` runs it for its alignment loss.
    """
    captured: dict[int, torch.Tensor] = {}
    handles = []
    for index, layer in enumerate(model.decoder.layers):

        def force_head_weights(module, args, kwargs):
            return args, {**kwargs, "need_weights": True, "need_head_weights": True}

        def keep(module, args, kwargs, output, index=index):
            captured[index] = output[1].transpose(0, 1)  # (heads, batch, ...) -> (batch, heads, ...)

        handles.append(layer.encoder_attn.register_forward_pre_hook(force_head_weights, with_kwargs=True))
        handles.append(layer.encoder_attn.register_forward_hook(keep, with_kwargs=True))
    try:
        with torch.no_grad():
            lengths = src.ne(1).sum(dim=1)
            encoder_out = model.encoder(src, src_lengths=lengths)
            features, _ = model.decoder(prev, encoder_out=encoder_out, features_only=True, full_context_alignment=full_context)
    finally:
        for handle in handles:
            handle.remove()
    return captured, features, encoder_out["encoder_out"][0].transpose(0, 1)


def fairseq_norms(model, alpha, encoder_states, layer):
    """Norms computed directly from fairseq's own modules, materializing alpha f(x) in float64."""
    attention = model.decoder.layers[layer].encoder_attn
    heads, head_dim = attention.num_heads, attention.head_dim
    values = attention.v_proj(encoder_states).double()  # value bias included
    values = values.view(*values.shape[:2], heads, head_dim)
    out_weight = attention.out_proj.weight.double().view(-1, heads, head_dim)  # output bias left out
    f = torch.einsum("bshd,chd->bhsc", values, out_weight)
    weighted = alpha.double().unsqueeze(-1) * f.unsqueeze(2)  # (batch, heads, target, source, dim)
    return torch.linalg.vector_norm(weighted.sum(dim=1), dim=-1), torch.linalg.vector_norm(weighted, dim=-1)


BUNDLES = [pytest.param(FIXTURES["toy-deen"], id="postnorm-sinusoidal-shared"), pytest.param(FIXTURES["prenorm-bpe"], id="prenorm-learned-lnemb")]


@pytest.fixture(scope="module", params=BUNDLES)
def pair_of_models(request):
    bundle = request.param
    return bundle, Aligner(AlignConfig(path=bundle, device="cpu")), fairseq_model(bundle)


@pytest.mark.parametrize("full_context", [False, True], ids=["causal", "full-context"])
@pytest.mark.parametrize("left_pad_source", [False, True])
def test_attention_and_features_match_fairseq(pair_of_models, left_pad_source, full_context):
    _bundle, aligner, reference = pair_of_models
    src, prev = sample_batch(aligner, left_pad_source)
    theirs, their_features, _ = fairseq_internals(reference, src, prev, full_context)
    with torch.inference_mode():
        ours = aligner.engine.backend.model.forced_decode(src, prev, layers=None, full_context=full_context)
    assert set(ours.cross_attention) == set(theirs) == set(range(aligner.engine.info.decoder_layers))
    real_rows = prev.ne(1)
    for layer, internals in ours.cross_attention.items():
        difference = (internals.alpha - theirs[layer].float()).abs()
        assert difference.max().item() <= 1e-5, f"layer {layer + 1}: alpha differs by {difference.max().item():.2e}"
    feature_difference = (ours.features - their_features)[real_rows].abs().max().item()
    assert feature_difference <= 1e-4, f"final decoder states differ by {feature_difference:.2e}"


def test_norms_match_direct_computation_from_fairseq_modules(pair_of_models):
    _bundle, aligner, reference = pair_of_models
    src, prev = sample_batch(aligner)
    theirs, _, encoder_states = fairseq_internals(reference, src, prev)
    with torch.inference_mode():
        ours = aligner.engine.backend.model.forced_decode(src, prev, layers=None)
    real = prev.ne(1)[:, :, None] & src.ne(1)[:, None, :]
    for layer, internals in ours.cross_attention.items():
        layer_ref, head_ref = fairseq_norms(reference, theirs[layer], encoder_states, layer)
        mine = layer_norm_scores(internals.alpha, internals.values).double()
        torch.testing.assert_close(mine[real], layer_ref[real], rtol=1e-5, atol=0)
        for head in range(internals.alpha.shape[1]):
            mine_head = head_norm_scores(internals.alpha, internals.values, head).double()
            torch.testing.assert_close(mine_head[real], head_ref[:, head][real], rtol=1e-5, atol=0)


# --- legacy checkpoint forms -------------------------------------------------------------


def as_args_only(state):
    model_options = state["cfg"]["model"]
    options = dict(vars(model_options)) if isinstance(model_options, argparse.Namespace) else dict(model_options)
    options.update({key: state["cfg"]["task"][key] for key in ("source_lang", "target_lang", "data")})
    return {"args": argparse.Namespace(**options), "model": state["model"]}


def with_stacked_in_proj(state):
    model = {}
    for key, tensor in state["model"].items():
        if ".q_proj." in key:
            kind = key.rsplit(".", 1)[1]
            prefix = key.split(".q_proj.")[0]
            model[f"{prefix}.in_proj_{kind}"] = torch.cat(
                [state["model"][f"{prefix}.{name}.{kind}"] for name in ("q_proj", "k_proj", "v_proj")]
            )
        elif ".k_proj." not in key and ".v_proj." not in key:
            model[key] = tensor
    return {**state, "model": model}


def with_layer_norms_n(state):
    names = {
        "encoder": {"self_attn_layer_norm": 0, "final_layer_norm": 1},
        "decoder": {"self_attn_layer_norm": 0, "encoder_attn_layer_norm": 1, "final_layer_norm": 2},
    }
    model = {}
    for key, tensor in state["model"].items():
        parts = key.split(".")
        if len(parts) == 5 and parts[1] == "layers" and parts[3] in names[parts[0]]:
            key = f"{parts[0]}.layers.{parts[2]}.layer_norms.{names[parts[0]][parts[3]]}.{parts[4]}"
        model[key] = tensor
    return {**state, "model": model}


def with_fairseq_0_12_2_zero_keys(state):
    model = dict(state["model"])
    layers = {key.split(".")[2] for key in model if key.startswith("encoder.layers.")}
    for layer in layers:
        for name in ("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"):
            model[f"encoder.layers.{layer}.{name}"] = torch.zeros(3)
    return {**state, "model": model}


LEGACY_FORMS = [as_args_only, with_stacked_in_proj, with_layer_norms_n, with_fairseq_0_12_2_zero_keys]


@pytest.mark.parametrize("bundle", BUNDLES)
@pytest.mark.parametrize("rewrite", LEGACY_FORMS, ids=lambda f: f.__name__)
def test_legacy_forms_give_identical_outputs(bundle, rewrite, tmp_path):
    original = read_checkpoint(bundle / "model.pt")
    model, _, _ = build_model(original, bundle / "model.pt")
    legacy_path = tmp_path / "legacy.pt"
    torch.save(rewrite(original), legacy_path)
    legacy, _, _ = build_model(read_checkpoint(legacy_path), legacy_path)
    aligner = Aligner(AlignConfig(path=bundle, device="cpu"))
    src, prev = sample_batch(aligner)
    with torch.inference_mode():
        expected = model.forced_decode(src, prev)
        actual = legacy.forced_decode(src, prev)
    assert torch.equal(expected.features, actual.features)
    for layer in expected.cross_attention:
        assert torch.equal(expected.cross_attention[layer].alpha, actual.cross_attention[layer].alpha)
        assert torch.equal(expected.cross_attention[layer].values, actual.cross_attention[layer].values)
