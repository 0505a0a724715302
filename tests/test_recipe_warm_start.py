"""Training survives a new machine: train.sh warm-starts from a shipped bundle alone.

Runs the real recipe (train.sh -> warm_start.py -> fairseq_train.py -> fairseq) for two updates
from the toy bundle, then once more to check that the second launch resumes from fairseq's own
checkpoint instead of warm-starting again. Needs real fairseq (the dev extra), like the parity
tests; ALIGNER_SKIP_PARITY=1 skips it knowingly.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
import torch

from .conftest import FIXTURES, ROOT, SAMPLE

pytestmark = pytest.mark.parity

if os.environ.get("ALIGNER_SKIP_PARITY") == "1":
    pytest.skip("ALIGNER_SKIP_PARITY=1", allow_module_level=True)

BIN = Path(sys.executable).parent
TOY = FIXTURES["toy-deen"]
# The toy bundle was trained with --lr 3e-3 --warmup-updates 50 for 300 updates (make_fixtures.py).
TOY_UPDATES, TOY_LR, TOY_WARMUP = 300, 3e-3, 50


def binarize_sample(work: Path, src: str = "de", tgt: str = "en") -> Path:
    """The sample pairs, segmented with the toy bundle's SentencePiece model, binarized with its dictionaries."""
    import sentencepiece as spm

    model = spm.SentencePieceProcessor(model_file=str(TOY / "spm.model"))
    enc = work / "spm_enc"
    enc.mkdir(parents=True)
    for lang in ("de", "en"):
        lines = (SAMPLE / f"sample.{lang}").read_text(encoding="utf-8").splitlines()
        encoded = "".join(" ".join(model.encode(line.lower(), out_type=str)) + "\n" for line in lines)
        for split in ("train", "valid"):
            (enc / f"{split}.{lang}").write_text(encoded, encoding="utf-8")
    data = work / "bin"
    subprocess.run(
        [str(BIN / "fairseq-preprocess"), "--source-lang", src, "--target-lang", tgt, "--trainpref", str(enc / "train"),
         "--validpref", str(enc / "valid"), "--destdir", str(data), "--srcdict", str(TOY / f"dict.{src}.txt"),
         "--tgtdict", str(TOY / f"dict.{tgt}.txt"), "--workers", "1"],
        check=True, capture_output=True,
    )
    return data


def train(work: Path, data: Optional[Path], max_update: int, direction: str = "de-en", **extra_env: str) -> str:
    """train.sh on the toy architecture; ``data`` None leaves DATA for train.sh to choose under ``work``."""
    env = {
        **os.environ, "STATE": str(work), **({"DATA": str(data)} if data else {}), "SAVE_DIR": str(work / "ckpt"), "WARM_FROM": str(TOY),
        "FAIRSEQ_BIN": str(BIN), "CPU": "1", "NICE": "0", "OMP_NUM_THREADS": "1",
        # the toy bundle's architecture and schedule
        "ENC_LAYERS": "2", "DEC_LAYERS": "3", "EMBED_DIM": "32", "FFN_DIM": "64", "HEADS": "4",
        "LR": str(TOY_LR), "WARMUP": str(TOY_WARMUP), "MAX_TOKENS": "2000", "MAX_UPDATE": str(max_update),
        "SAVE_INTERVAL": "1000",
        # the toy was trained on 200 copies of the sample, this data is one copy: other batches
        "WARM_NEXT_EPOCH": "1",
        **extra_env,
    }
    result = subprocess.run(["bash", str(ROOT / "eval/recipe/train.sh"), direction], env=env, capture_output=True, text=True)
    log = (work / "ckpt" / "train.log").read_text(encoding="utf-8")
    assert result.returncode == 0, log[-3000:]
    return log


def last_state(work: Path) -> dict:
    return torch.load(work / "ckpt" / "checkpoint_last.pt", map_location="cpu", weights_only=False)


def test_train_sh_warm_starts_from_a_bundle_and_then_resumes_its_own_checkpoint(tmp_path):
    data = binarize_sample(tmp_path)

    log = train(tmp_path, data, TOY_UPDATES + 2)
    # inverse_sqrt after warm-up: lr * sqrt(warmup / updates), continued, not warming up again
    expected_lr = TOY_LR * math.sqrt(TOY_WARMUP / TOY_UPDATES)
    match = re.search(r"warm start from bundle toy-deen: optimizer reset, update count (\d+) continued \(lr ([\d.e-]+)\)", log)
    assert match, log[-3000:]
    assert int(match.group(1)) == TOY_UPDATES
    assert float(match.group(2)) == pytest.approx(expected_lr, rel=1e-3)
    state = last_state(tmp_path)
    assert state["optimizer_history"][-1]["num_updates"] == TOY_UPDATES + 2
    # the toy bundle stopped in epoch 10; training goes on with epoch 11 and later
    assert state["extra_state"]["train_iterator"]["epoch"] >= 11
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())

    log = train(tmp_path, data, TOY_UPDATES + 4)
    second_run = log[log.rindex("=== "):]
    assert "warm start from bundle" not in second_run
    assert f"checkpoint_last.pt (epoch" in second_run and f"@ {TOY_UPDATES + 2} updates)" in second_run
    assert last_state(tmp_path)["optimizer_history"][-1]["num_updates"] == TOY_UPDATES + 4


def test_warm_start_refuses_a_vocabulary_other_than_the_bundles(tmp_path):
    data = tmp_path / "bin"
    data.mkdir()
    for lang in ("de", "en"):
        (data / f"dict.{lang}.txt").write_text("ein 1\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "eval/recipe/warm_start.py"), str(TOY), str(tmp_path / "ckpt"), "--data-dir", str(data)],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "is not the bundle's" in result.stderr and "prepare_data.py --bundle" in result.stderr
    assert not (tmp_path / "ckpt" / "warm_start.pt").exists()


def test_train_sh_starts_the_reverse_direction_from_a_bundle_with_a_joint_vocabulary(tmp_path):
    data = binarize_sample(tmp_path, "en", "de")

    log = train(tmp_path, data, TOY_UPDATES + 2, "en-de", WARM_REVERSE="1")
    assert re.search(rf"warm start from bundle toy-deen: optimizer reset, update count {TOY_UPDATES} continued", log), log[-3000:]
    warm = torch.load(tmp_path / "ckpt" / "warm_start.pt", map_location="cpu", weights_only=False)
    assert warm["extra_state"]["aligner_warm_start"]["from_direction"] == "de-en"
    state = last_state(tmp_path)
    assert state["optimizer_history"][-1]["num_updates"] == TOY_UPDATES + 2
    task = state["cfg"]["task"]
    assert (task["source_lang"], task["target_lang"]) == ("en", "de")
    # the toy's encoder embedding starts the en->de encoder: shared with the decoder, as the toy's was
    toy = torch.load(TOY / "model.pt", map_location="cpu", weights_only=False)["model"]
    start = warm["model"]["encoder.embed_tokens.weight"]
    assert torch.equal(start, toy["encoder.embed_tokens.weight"].float())
    assert torch.equal(state["model"]["encoder.embed_tokens.weight"], state["model"]["decoder.embed_tokens.weight"])


def test_warm_start_refuses_the_reverse_direction_without_a_joint_vocabulary(tmp_path):
    bundle = FIXTURES["prenorm-bpe"]
    data = tmp_path / "bin"
    data.mkdir()
    for lang in ("de", "en"):
        (data / f"dict.{lang}.txt").write_bytes((bundle / f"dict.{lang}.txt").read_bytes())
    result = subprocess.run(
        [sys.executable, str(ROOT / "eval/recipe/warm_start.py"), str(bundle), str(tmp_path / "ckpt"), "--data-dir", str(data),
         "-s", "en", "-t", "de", "--reverse-direction"],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "only a model with one joint vocabulary can start the reverse direction" in result.stderr
    assert not (tmp_path / "ckpt" / "warm_start.pt").exists()


def test_train_sh_supervises_the_input_step_of_decoder_layer_3_with_guided_step_awi(tmp_path):
    """GUIDED_STEP=awi reads <state>/bin_align_awi and supervises 0-based decoder layer 2 (the toy has 3)."""
    data = binarize_sample(tmp_path)
    awi = tmp_path / "bin_align_awi"
    data.rename(awi)
    # one link per pair: the first source piece to the decoder position reading the first target
    # piece (1); every pair has at least two target pieces, so position 1 is in fairseq's range
    lines = (tmp_path / "spm_enc" / "train.en").read_text(encoding="utf-8").splitlines()
    assert all(len(line.split()) >= 2 for line in lines)
    (tmp_path / "spm_enc" / "train.align.awi").write_text("0-1\n" * len(lines), encoding="utf-8")
    subprocess.run(
        [str(BIN / "fairseq-preprocess"), "--source-lang", "de", "--target-lang", "en", "--trainpref",
         str(tmp_path / "spm_enc" / "train"), "--destdir", str(awi), "--srcdict", str(TOY / "dict.de.txt"),
         "--tgtdict", str(TOY / "dict.en.txt"), "--align-suffix", "align.awi", "--workers", "1"],
        check=True, capture_output=True,
    )
    log = train(tmp_path, None, TOY_UPDATES + 2, GUIDED="1", GUIDED_STEP="awi")
    assert "alignment size mismatch" not in log
    cfg = last_state(tmp_path)["cfg"]
    assert cfg["task"]["data"] == str(awi)
    assert cfg["model"].alignment_layer == 2 and cfg["model"].full_context_alignment is False
    assert cfg["criterion"]["_name"] == "label_smoothed_cross_entropy_with_alignment"
    assert last_state(tmp_path)["optimizer_history"][-1]["num_updates"] == TOY_UPDATES + 2


@pytest.mark.parametrize("env, message", [
    ({"GUIDED_STEP": "full"}, "GUIDED_STEP must be awo or awi"),
    ({"GUIDED_STEP": "awi", "FULL_CONTEXT": "1"}, "does not combine with FULL_CONTEXT=1"),
])
def test_train_sh_refuses_a_guided_step_it_cannot_train(tmp_path, env, message):
    result = subprocess.run(["bash", str(ROOT / "eval/recipe/train.sh"), "de-en"],
                            env={**os.environ, "STATE": str(tmp_path), "GUIDED": "1", **env}, capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr
    assert list(tmp_path.iterdir()) == []
