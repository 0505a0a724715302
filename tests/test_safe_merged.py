"""Issue 15's checks over what landed beside it: side files (--scores-file, --words-file) are
outputs like the main one (never an input, one writer, no clobbering), and the library's preset
rule (align, plot, sweep's preset row, Aligner.from_pretrained) refuses a preset chosen for other
weights, naming the preset file, unless forced. Strict schemas accept the shipped files."""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner import Aligner
from aligner.backends.fairseq.resources import BUNDLE_FILE, SHIPPED_MODEL
from aligner.cli import main
from aligner.config import PRESET_FIELDS
from aligner.errors import ConfigError, ResourceError
from aligner.files import lock_path
from aligner.io import file_sha256
from aligner.schemas import BUNDLE_SCHEMAS, PRESET, PRESET_SETTINGS, validate

from .conftest import FIXTURES, ROOT, SAMPLE

SRC, TGT, GOLD = SAMPLE / "sample.de", SAMPLE / "sample.en", SAMPLE / "sample.talp"
TOY = FIXTURES["toy-deen"]
STALE = "0123abcd" * 8  # no model's weights


def run(*args, input=None):
    return CliRunner().invoke(main, [str(arg) for arg in args], input=input, catch_exceptions=False)


def align(*args):
    return run("align", "--device", "cpu", "-q", "--src", SRC, "--tgt", TGT, *args)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- side files ------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--scores-file", "--words-file"])
def test_side_file_that_is_an_input_is_refused_and_the_input_unchanged(tmp_path, option):
    target = tmp_path / "a.en"
    target.write_bytes(TGT.read_bytes())
    before = digest(target)
    result = run("align", "--device", "cpu", "-q", "--src", SRC, "--tgt", target, "-o", tmp_path / "out", option, target, "--overwrite")
    assert result.exit_code == 1
    assert f"aligner: error: {target}: output is also an input ({target})" in result.stderr
    assert digest(target) == before and not (tmp_path / "out").exists()


def test_side_file_that_is_an_input_is_refused_with_stdout_as_the_main_output(tmp_path):
    target = tmp_path / "a.de"
    target.write_bytes(SRC.read_bytes())
    before = digest(target)
    result = run("align", "--device", "cpu", "-q", "--src", target, "--tgt", TGT, "--scores-file", target, "--overwrite")
    assert result.exit_code == 1 and f"{target}: output is also an input" in result.stderr
    assert digest(target) == before and result.stdout == ""


def test_symlinked_side_file_to_an_input_is_refused(tmp_path):
    target = tmp_path / "a.en"
    target.write_bytes(TGT.read_bytes())
    link = tmp_path / "words.txt"
    link.symlink_to(target)
    before = digest(target)
    result = run("align", "--device", "cpu", "-q", "--src", SRC, "--tgt", target, "-o", tmp_path / "out", "--words-file", link)
    assert result.exit_code == 1 and f"{link}: output is also an input ({target})" in result.stderr
    assert digest(target) == before


def test_second_writer_of_a_side_file_is_refused_while_its_lock_is_held(tmp_path):
    output, scores = tmp_path / "out.align", tmp_path / "out.scores"
    lock = lock_path(scores)
    with open(lock, "w") as held:
        held.write("host testhost pid 4242\n")
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        refused = align("-o", output, "--scores-file", scores)
        assert refused.exit_code == 1
        assert f"{scores}: another run is writing this output (lock {lock} held by host testhost pid 4242)" in refused.stderr
        assert not output.exists() and not scores.exists()
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    again = align("-o", output, "--scores-file", scores)
    assert again.exit_code == 0, again.stderr
    assert output.read_text().count("\n") == 20 and scores.read_text().count("\n") == 20
    assert not lock.exists() and not lock_path(output).exists()


def test_existing_side_file_is_refused_without_overwrite_and_kept(tmp_path):
    output, words = tmp_path / "out.align", tmp_path / "out.words"
    words.write_text("keep me\n")
    result = align("-o", output, "--words-file", words)
    assert result.exit_code == 1 and f"{words}: output exists; refusing to overwrite it (use --overwrite)" in result.stderr
    assert words.read_text() == "keep me\n" and not output.exists()


def test_side_file_in_a_missing_directory_is_a_one_line_error(tmp_path):
    scores = tmp_path / "no" / "such" / "dir" / "out.scores"
    result = align("-o", tmp_path / "out", "--scores-file", scores)
    assert result.exit_code == 1 and f"aligner: error: {scores}: cannot write: the output directory does not exist" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


# --- presets know their model, on every path of the library rule ---------------------------


@pytest.fixture
def stale_bundle(tmp_path) -> Path:
    """The toy model as a bundle whose own preset was stamped for other weights."""
    directory = tmp_path / "stale"
    shutil.copytree(TOY, directory)
    preset = {"format": "aligner-preset/1", "name": "stale-dev", "settings": {"layers": [2], "measure": "weight"}, "model_sha256": STALE}
    (directory / "dev-preset.json").write_text(json.dumps(preset))
    description = json.loads((directory / BUNDLE_FILE).read_text())
    description.update(format="aligner-bundle/2", preset="dev-preset.json")
    (directory / BUNDLE_FILE).write_text(json.dumps(description))
    return directory


def refusal(bundle: Path) -> str:
    return f"{bundle / 'dev-preset.json'}: the preset was chosen for the model with weights @0123abcd, but {bundle / 'model.pt'} is @{file_sha256(bundle / 'model.pt')[:8]}"


def test_align_refuses_a_bundles_stale_preset_unless_forced(stale_bundle):
    refused = align("--path", stale_bundle)
    assert refused.exit_code == 1 and f"aligner: error: {refusal(stale_bundle)}" in refused.stderr
    forced = run("align", "--device", "cpu", "--src", SRC, "--tgt", TGT, "--path", stale_bundle, "--force-preset")
    assert forced.exit_code == 0 and forced.stdout.count("\n") == 20
    assert "|preset:stale-dev|" in forced.stderr
    assert align("--path", stale_bundle, "--no-preset").exit_code == 0  # no preset, nothing to check


def test_from_pretrained_refuses_a_stale_preset_unless_forced(stale_bundle):
    with pytest.raises(ConfigError) as caught:
        Aligner.from_pretrained(stale_bundle, device="cpu")
    assert str(caught.value).startswith(refusal(stale_bundle))
    forced = Aligner.from_pretrained(stale_bundle, device="cpu", force_preset=True)
    assert forced.config.preset == "stale-dev" and forced.config.layers == (2,)


def test_sweep_refuses_a_stale_bundle_preset_row_before_aligning_unless_forced(stale_bundle, tmp_path):
    args = ("sweep", "--device", "cpu", "--path", stale_bundle, "--src", SRC, "--tgt", TGT, "--gold", GOLD, "--no-per-head")
    refused = run(*args, "-o", tmp_path / "s")
    assert refused.exit_code == 1 and f"aligner: error: {refusal(stale_bundle)}" in refused.stderr
    assert refused.stdout == "" and not (tmp_path / "s.md").exists()
    forced = run(*args, "--force-preset")
    assert forced.exit_code == 0, forced.output
    assert "The bundle's preset stale-dev" in forced.stdout
    assert run(*args, "--no-preset-row").exit_code == 0


def test_plot_refuses_a_stale_preset_unless_forced(stale_bundle, tmp_path):
    pytest.importorskip("matplotlib")
    args = ("plot", "--device", "cpu", "--path", stale_bundle, "--src", SRC, "--tgt", TGT, "--lines", "1")
    refused = run(*args, "-o", tmp_path / "p.png")
    assert refused.exit_code == 1 and f"aligner: error: {refusal(stale_bundle)}" in refused.stderr
    assert not (tmp_path / "p.png").exists()
    forced = run(*args, "-o", tmp_path / "q.png", "--force-preset")
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- schemas accept the shipped files and nothing a preset may not set ------------------------


def test_preset_schema_knows_exactly_the_preset_fields():
    assert set(PRESET_SETTINGS) == set(PRESET_FIELDS)


@pytest.mark.parametrize("directory", [SHIPPED_MODEL, ROOT / "data" / "models" / "deen-small", TOY], ids=lambda d: d.name)
def test_shipped_bundles_and_their_presets_fit_the_schemas(directory):
    description = json.loads((directory / BUNDLE_FILE).read_text())
    validate(description, BUNDLE_SCHEMAS[description["format"]], directory / BUNDLE_FILE, ResourceError)
    if "preset" in description:
        preset = json.loads((directory / description["preset"]).read_text())
        validate(preset, PRESET, directory / description["preset"], ResourceError)
        assert preset["model_sha256"] == file_sha256(directory / description["checkpoint"])
