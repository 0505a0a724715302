"""Strict values from files (aligner.json, presets, a checkpoint's options), model sanity, and presets
that know their model (issue 15). Fuzzing: only the project's own errors escape the readers."""

from __future__ import annotations

import argparse
import copy
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aligner.backends.fairseq.checkpoint import build_model, read_checkpoint
from aligner.backends.fairseq.resources import SHIPPED_MODEL, Bundle
from aligner.cli import main
from aligner.errors import AlignerError
from aligner.evaluation.select import read_preset
from aligner.io import file_sha256

from .conftest import FIXTURES, ROOT, SAMPLE

TOY = FIXTURES["toy-deen"]
PAIR = "das haus ist klein ||| the house is small\n"


def align(*args, input=PAIR):
    return CliRunner().invoke(main, ["align", "--device", "cpu", "-q", *map(str, args)], input=input, catch_exceptions=False)


@pytest.fixture
def bundle(tmp_path) -> Path:
    directory = tmp_path / "bundle"
    shutil.copytree(TOY, directory)
    return directory


def rewrite_state(directory: Path, change) -> Path:
    path = directory / "model.pt"
    state = read_checkpoint(path)
    change(state)
    torch.save(state, path)
    return path


def write_json(path: Path, record) -> Path:
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


# --- model sanity -------------------------------------------------------------------------------


@pytest.mark.parametrize("values,finite", [
    ([1.0, -2.0, 0.5], True),
    ([1.0, float("nan"), 0.5], False),
    ([float("inf"), 1.0], False),
    ([float("-inf"), float("inf")], False),  # the sum is NaN
    ([3e38, 3e38, 3e38], True),  # finite, but the float32 sum overflows: the element-wise check decides
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_finite_check_is_exact(values, finite, dtype):
    from aligner.backends.fairseq.checkpoint import _all_finite

    tensor = torch.tensor(values, dtype=torch.float64).to(dtype)
    assert _all_finite(tensor) == bool(torch.isfinite(tensor).all())
    if dtype in (torch.float32, torch.float64):
        assert _all_finite(tensor) == finite


def test_nan_weights_refused_naming_the_first_tensor(bundle):
    def poison(state):
        state["model"]["decoder.layers.1.fc1.weight"][0, 0] = float("nan")

    path = rewrite_state(bundle, poison)
    result = align("--path", bundle)
    assert result.exit_code == 1
    assert f"aligner: error: {path}: tensor decoder.layers.1.fc1.weight holds non-finite values" in result.stderr


def test_shape_mismatch_names_parameter_and_shapes(bundle):
    def reshape(state):
        weight = state["model"]["decoder.layers.1.fc1.weight"]
        state["model"]["decoder.layers.1.fc1.weight"] = torch.zeros(weight.shape[0] + 1, weight.shape[1])

    path = rewrite_state(bundle, reshape)
    shape = list(read_checkpoint(TOY / "model.pt")["model"]["decoder.layers.1.fc1.weight"].shape)
    result = align("--path", bundle)
    assert result.exit_code == 1
    assert f"{path}: parameter decoder_layers.1.fc1.weight has shape [{shape[0] + 1}, {shape[1]}], the model options need {shape}" in result.stderr


@pytest.mark.parametrize("content", [b"just some text\n", bytes(range(256)) * 8])
def test_foreign_file_never_gets_the_weights_only_advice(tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    result = align("--path", path, "-s", "de", "-t", "en")
    assert result.exit_code == 1 and f"{path}: not a readable PyTorch checkpoint" in result.stderr
    assert "weights_only" not in result.stderr


class RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("true",))


def test_raw_pickle_names_the_refused_global(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"cfg": {}, "model": RunsCode()}))
    result = align("--path", path, "-s", "de", "-t", "en")
    assert result.exit_code == 1 and f"{path}: refused: the checkpoint needs the pickled global(s) posix.system" in result.stderr


def test_non_numeric_cfg_option_refused_by_key(bundle):
    def corrupt(state):
        state["cfg"]["model"].max_source_positions = "abc"

    path = rewrite_state(bundle, corrupt)
    result = align("--path", bundle)
    assert result.exit_code == 1
    assert f"{path}: model option max_source_positions: 'abc' is not of type 'integer'" in result.stderr


# --- aligner.json ---------------------------------------------------------------------------


@pytest.mark.parametrize("key,value,message", [
    ("checkpoint", 42, "checkpoint: 42 is not of type 'string'"),
    ("lowercase", "no", "lowercase: 'no' is not of type 'boolean'"),
    ("subword", "wordpiece", "subword: 'wordpiece' is not one of"),
])
def test_bundle_values_are_strict(bundle, key, value, message):
    record = json.loads((bundle / "aligner.json").read_text())
    record[key] = value
    path = write_json(bundle / "aligner.json", record)
    result = align("--path", bundle)
    assert result.exit_code == 1 and f"aligner: error: {path}: {message}" in result.stderr


def test_bundle_unknown_key_refused_by_name(bundle):
    record = {**json.loads((bundle / "aligner.json").read_text()), "format": "aligner-bundle/2", "lowercasing": True}
    path = write_json(bundle / "aligner.json", record)
    result = align("--path", bundle)
    assert result.exit_code == 1 and f"{path}: unknown bundle fields for aligner-bundle/2: lowercasing" in result.stderr


# --- presets --------------------------------------------------------------------------------


def preset(tmp_path: Path, **settings_) -> Path:
    return write_json(tmp_path / "p.json", {"format": "aligner-preset/1", "name": "p", "settings": settings_})


@pytest.mark.parametrize("settings_,message", [
    ({"eos_null": "no"}, "settings.eos_null: 'no' is not of type 'boolean'"),
    ({"layers": "abc"}, "settings.layers: 'abc' is not of type 'array'"),
    ({"layers": [0]}, "settings.layers.0: 0 is less than the minimum of 1"),
    ({"threshold": 2}, "settings.threshold: 2 is greater than the maximum of 1"),
])
def test_preset_values_are_strict(tmp_path, settings_, message):
    path = preset(tmp_path, **settings_)
    result = align("--preset", path)
    assert result.exit_code == 1 and f"aligner: error: {path}: {message}" in result.stderr


def test_preset_chosen_for_other_weights_refused_unless_forced(tmp_path):
    record = {"format": "aligner-preset/1", "name": "p", "settings": {"layers": [1]}, "model_sha256": "0123abcd" * 8}
    path = write_json(tmp_path / "p.json", record)
    toy = file_sha256(TOY / "model.pt")[:8]
    refused = align("--preset", path)
    assert refused.exit_code == 1
    assert f"aligner: error: {path}: the preset was chosen for the model with weights @0123abcd, but {TOY / 'model.pt'} is @{toy}" in refused.stderr
    forced = align("--preset", path, "--force-preset")
    assert forced.exit_code == 0 and forced.stdout.count("\n") == 1


@pytest.mark.parametrize("field,settings_,message", [
    ("layers", {"layers": [9]}, "layer 9 does not exist: the decoder has 3 layers"),
    ("heads", {"layers": [1], "heads": [9]}, "head 9 does not exist: the decoder layers have 4 heads"),
])
def test_preset_without_a_model_hash_whose_indices_do_not_fit_is_named(tmp_path, field, settings_, message):
    path = preset(tmp_path, **settings_)
    refused = align("--preset", path)
    assert refused.exit_code == 1
    assert f"aligner: error: {message}; preset p sets the {field} (was it chosen for another model?)" in refused.stderr
    # an index the user gives is the user's own: no preset blamed
    option = {"layers": "--layer", "heads": "--head"}[field]
    own = align("--preset", path, option, "9")
    assert own.exit_code != 0 and "preset p" not in own.stderr
    assert align("--preset", path, option, "1").exit_code == 0


def test_an_index_the_preset_does_not_set_is_the_users_own(tmp_path):
    path = preset(tmp_path, layers=[1])  # no heads: --head is the user's alone
    own = align("--preset", path, "--head", "9")
    assert own.exit_code != 0 and "head 9 does not exist" in own.stderr and "preset p" not in own.stderr
    given = CliRunner().invoke(main, ["align", "--device", "cpu", "--preset", str(path), "--head", "2"], input=PAIR)
    assert given.exit_code == 0 and "|preset:p+heads|" in given.stderr


def test_old_preset_names_its_model_in_the_signature_and_is_checked(tmp_path):
    record = {"name": "p", "settings": {"layers": [1]}, "model_signature": "model:other@deadbeef|layer:1/3"}
    path = write_json(tmp_path / "p.json", record)
    result = align("--preset", path)
    assert result.exit_code == 1 and "chosen for the model with weights @deadbeef" in result.stderr


@pytest.mark.parametrize("directory", [ROOT / "data" / "models" / "deen-small", SHIPPED_MODEL], ids=["deen-small", "deen-guided"])
def test_shipped_presets_are_bound_to_their_bundles_weights(directory):
    record = json.loads((directory / "dev-preset.json").read_text())
    assert record["model_sha256"] == file_sha256(directory / "model.pt")
    assert record["source_checkpoint"].startswith("checkpoint_")  # provenance kept


def test_shipped_bundle_applies_its_restamped_preset():
    result = CliRunner().invoke(main, ["align", "--device", "cpu", "--path", str(ROOT / "data" / "models" / "deen-small"),
                                       "--src", str(SAMPLE / "sample.de"), "--tgt", str(SAMPLE / "sample.en")], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 20 and "preset:deen-small-dev" in result.stderr


# --- fuzzing ----------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
BUNDLE_KEYS = ["format", "name", "checkpoint", "source_lang", "target_lang", "lowercase", "subword", "subword_model", "preset", "training"]
PRESET_KEYS = ["layers", "heads", "measure", "step", "decision", "threshold", "eos_null", "final_punct", "src_merge", "symmetrize"]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(record=st.one_of(JSON, st.dictionaries(st.sampled_from(BUNDLE_KEYS), JSON, max_size=6)))
def test_fuzz_bundle_reader(tmp_path_factory, record):
    path = tmp_path_factory.mktemp("bundle") / "aligner.json"
    path.write_text(json.dumps(record))
    try:
        Bundle.read(path)
    except AlignerError:
        pass


@FUZZ
@given(record=st.one_of(
    JSON,
    st.fixed_dictionaries({"name": JSON, "settings": st.dictionaries(st.sampled_from(PRESET_KEYS), JSON, max_size=4)}),
))
def test_fuzz_preset_reader(tmp_path_factory, record):
    path = tmp_path_factory.mktemp("preset") / "p.json"
    path.write_text(json.dumps(record))
    try:
        read_preset(path)
    except AlignerError:
        pass


CFG_KEYS = ["max_source_positions", "encoder_attention_heads", "decoder_attention_heads", "encoder_normalize_before",
            "decoder_learned_pos", "activation_fn", "arch", "no_scale_embedding", "encoder_layers", "decoder_output_dim"]
TOY_STATE = read_checkpoint(TOY / "model.pt")


@settings(max_examples=40, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(CFG_KEYS), JSON, min_size=1, max_size=3))
def test_fuzz_checkpoint_cfg_reader(changes):
    state = dict(TOY_STATE)
    model_cfg = copy.copy(TOY_STATE["cfg"]["model"])
    for key, value in changes.items():
        setattr(model_cfg, key, value)
    state["cfg"] = {**TOY_STATE["cfg"], "model": model_cfg}
    try:
        build_model(state, TOY / "model.pt")
    except AlignerError:
        pass


def test_cfg_as_plain_namespace_still_loads():
    model, options, _ = build_model(TOY_STATE, TOY / "model.pt")
    assert isinstance(TOY_STATE["cfg"]["model"], argparse.Namespace) and options["max_source_positions"] > 0
