"""The wheel as a user gets it: built, installed into a fresh venv, run outside any checkout.

No network: the wheel is built with the test venv's setuptools (``--no-build-isolation``) and
installed with ``--no-deps``; the fresh venv reaches the test venv's packages (torch, numpy, ...)
through a ``.pth`` file, since a venv made with ``--system-site-packages`` would see only the base
interpreter's packages, not this venv's.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner.backends.fairseq.resources import MODEL_VARIABLE
from aligner.cli import main

from .conftest import ROOT, SAMPLE

SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "aligner")


def _clean_env() -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH into the checkout, no test model override."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", MODEL_VARIABLE)}
    env["PIP_NO_INDEX"] = "1"  # a step that would reach for the network fails instead
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(command: list, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the package's sources, so the checkout gets no build/ or egg-info."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", source, "-w", tmp / "dist"], tmp)
    (built,) = (tmp / "dist").glob("*.whl")
    print(f"wheel {built.name}: {built.stat().st_size:,} bytes")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with only the wheel installed; its other packages come from this venv via a .pth."""
    env_dir = tmp_path_factory.mktemp("venv") / "v"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env_dir).stdout.strip())
    # Plain directory lines: their own .pth files (this venv's editable install of the checkout) are not run.
    (purelib / "test-venv.pth").write_text("".join(f"{path}\n" for path in site.getsitepackages()))
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel], env_dir)
    return env_dir


def test_wheel_holds_the_default_model_and_its_terms_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    bundle = {Path(name).name for name in names if name.startswith("aligner/models/deen-guided/")}
    assert {"aligner.json", "model.pt", "dict.de.txt", "dict.en.txt", "spm.model", "dev-preset.json", "MODEL_CARD.md", "TERMS.md"} <= bundle
    # the other bundles (deen-small, toy-deen) stay in the repository
    assert not [name for name in names if name.startswith("aligner/models/") and not name.startswith("aligner/models/deen-guided/")]
    assert not [name for name in names if name.startswith("data/") or "toy-deen" in name or "deen-small" in name]
    # the model's terms beside the code's MIT licence, in the metadata too
    metadata = zipfile.ZipFile(wheel).read(next(name for name in names if name.endswith(".dist-info/METADATA"))).decode()
    assert "License: MIT" in metadata and "License-File: aligner/models/deen-guided/TERMS.md" in metadata
    terms = zipfile.ZipFile(wheel).read("aligner/models/deen-guided/TERMS.md").decode()
    assert "CC BY 2.0 FR" in terms and "CC BY-SA 4.0" in terms and "research use" in terms
    assert wheel.stat().st_size < 30_000_000


def test_installed_wheel_aligns_from_anywhere_as_the_checkout_does(installed, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    src, tgt = SAMPLE / "sample.de", SAMPLE / "sample.en"
    where = _run([installed / "bin" / "python", "-c", "import aligner; print(aligner.__file__)"], elsewhere).stdout.strip()
    assert Path(where).is_relative_to(installed), where
    from_wheel = _run([installed / "bin" / "aligner", "align", "--src", src, "--tgt", tgt, "--device", "cpu", "-o", "wheel.align"], elsewhere)

    monkeypatch.delenv(MODEL_VARIABLE, raising=False)
    checkout_out = tmp_path / "checkout.align"
    from_checkout = CliRunner().invoke(main, ["align", "--src", str(src), "--tgt", str(tgt), "--device", "cpu", "-o", str(checkout_out)])
    assert from_checkout.exit_code == 0, from_checkout.output

    aligned = (elsewhere / "wheel.align").read_text()
    assert aligned.count("\n") == 20 and all("-" in line for line in aligned.splitlines())  # links on every sample line
    assert aligned == checkout_out.read_text()
    signature = from_wheel.stderr.strip().splitlines()[-1]
    assert signature == from_checkout.stderr.strip().splitlines()[-1]
    assert signature.startswith("model:deen-guided@") and "|preset:deen-guided-dev|" in signature
