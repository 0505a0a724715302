"""Safe checkpoint loading: data-only globals pass, anything else is refused and never run."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest
import torch

from aligner.backends.fairseq.checkpoint import build_model, checkpoint_options, flatten_options, normalize_state_dict, read_checkpoint
from aligner.errors import CheckpointError, ResourceError, UnsupportedModelError

from .conftest import FIXTURES

TOY = FIXTURES["toy-deen"] / "model.pt"


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"cfg": {}, "model": {}, "payload": RunsCode(marker)}, path)
    with pytest.raises(CheckpointError, match=r"refused: .*posix\.system"):
        read_checkpoint(path)
    assert not marker.exists()


def test_numpy_training_state_is_accepted(tmp_path):
    state = read_checkpoint(TOY)
    state["extra_state"] = {"rng": np.arange(3), "best": np.float64(1.5), "seed": np.int64(3)}
    path = tmp_path / "numpy.pt"
    torch.save(state, path)
    loaded = read_checkpoint(path)
    assert loaded["extra_state"]["best"] == 1.5 and list(loaded["extra_state"]["rng"]) == [0, 1, 2]


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "cut.pt"
    path.write_bytes(TOY.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(path)


def test_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello\n")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ResourceError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "none.pt")


def test_tensor_dict_without_fairseq_layout(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a fairseq checkpoint"):
        read_checkpoint(path)


def test_nested_and_flat_options_agree():
    nested = {"_name": "transformer", "encoder": {"embed_dim": 8, "normalize_before": True}, "quant_noise": {"pq": 0.0}}
    flat = flatten_options(nested)
    assert flat["arch"] == "transformer"
    assert flat["encoder_embed_dim"] == 8 and flat["encoder_normalize_before"] is True and flat["quant_noise_pq"] == 0.0
    args_state = {"args": argparse.Namespace(arch="transformer", encoder_embed_dim=8, source_lang="de"), "model": {}}
    model_options, task = checkpoint_options(args_state)
    assert model_options["encoder_embed_dim"] == 8 and task["source_lang"] == "de"


def test_nested_dict_config_builds_same_model():
    state = read_checkpoint(TOY)
    flat_model, _, _ = build_model(state, TOY)
    options = dict(vars(state["cfg"]["model"]))
    nested = {key: value for key, value in options.items() if not key.startswith(("encoder_", "decoder_"))}
    for side in ("encoder", "decoder"):
        nested[side] = {key[len(side) + 1 :]: value for key, value in options.items() if key.startswith(side + "_")}
    nested_state = {**state, "cfg": {**state["cfg"], "model": nested}}
    nested_model, _, _ = build_model(nested_state, TOY)
    assert nested_model.spec == flat_model.spec


@pytest.mark.parametrize(
    "option, value", [("adaptive_input", True), ("quant_noise_pq", 0.1), ("scale_attn", True), ("encoder_layers_to_keep", "0,1")]
)
def test_unsupported_options_are_named(option, value):
    state = read_checkpoint(TOY)
    setattr(state["cfg"]["model"], option, value)
    with pytest.raises(UnsupportedModelError, match=option):
        build_model(state, TOY)


def test_other_architecture_refused():
    state = read_checkpoint(TOY)
    state["cfg"]["model"].arch = "lstm"
    with pytest.raises(UnsupportedModelError, match="architecture 'lstm'"):
        build_model(state, TOY)


def test_unknown_parameter_refused():
    state = read_checkpoint(TOY)
    state["model"]["decoder.layers.0.c_attn"] = torch.ones(4)
    with pytest.raises(UnsupportedModelError, match=r"decoder_layers\.0\.c_attn"):
        build_model(state, TOY)


def test_legacy_key_normalization():
    q, k, v = torch.full((2, 2), 1.0), torch.full((2, 2), 2.0), torch.full((2, 2), 3.0)
    normalized = normalize_state_dict(
        {
            "decoder.layers.0.encoder_attn.in_proj_weight": torch.cat([q, k, v]),
            "decoder.layers.0.layer_norms.1.weight": torch.ones(2),
            "encoder.layers.0.layer_norms.1.bias": torch.zeros(2),
            "encoder.layers.0.fc1_weight": torch.zeros(1),
            "encoder.version": torch.tensor([3.0]),
            "decoder.output_projection.weight": torch.zeros(1),
        }
    )
    assert set(normalized) == {
        "decoder.layers.0.encoder_attn.q_proj.weight",
        "decoder.layers.0.encoder_attn.k_proj.weight",
        "decoder.layers.0.encoder_attn.v_proj.weight",
        "decoder.layers.0.encoder_attn_layer_norm.weight",
        "encoder.layers.0.final_layer_norm.bias",
    }
    assert torch.equal(normalized["decoder.layers.0.encoder_attn.k_proj.weight"], k)


def test_transformer_align_checkpoint_reads_as_its_transformer():
    state = read_checkpoint(TOY)
    plain, _, _ = build_model(state, TOY)
    options = state["cfg"]["model"]
    options.arch, options.alignment_heads, options.alignment_layer, options.full_context_alignment = "transformer_align", 1, 2, False
    aligned, _, _ = build_model(state, TOY)
    assert aligned.spec == plain.spec
    assert all(torch.equal(a, b) for a, b in zip(aligned.state_dict().values(), plain.state_dict().values()))
