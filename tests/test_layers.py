"""The shape of the package: who imports whom, what stays light, how big a module may grow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, SAMPLE

PACKAGE = ROOT / "aligner"
MODULES = sorted(PACKAGE.rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved), lazily or not."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_no_module_over_400_lines():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in MODULES}
    assert {name: size for name, size in sizes.items() if size > 400} == {}


def test_click_only_in_the_cli_and_the_cli_only_from_main():
    for path in MODULES:
        imports = imported_modules(path)
        in_cli = path.parent.name == "cli"
        if not in_cli:
            assert "click" not in imports, path
        if not in_cli and path.name != "__main__.py":
            assert not any(name == "aligner.cli" or name.startswith("aligner.cli.") for name in imports), path


def test_cli_has_no_manifest_or_distributed_logic():
    for path in (PACKAGE / "cli").glob("*.py"):
        imports = imported_modules(path)
        assert not any(name.startswith(("aligner.runner.resume", "aligner.runner.distributed", "torch")) for name in imports), path
        text = path.read_text()
        assert "torch.distributed" not in text and "World" not in text and "RunManifest" not in text, path


def modules_after(code: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    return set(result.stdout.split())


def test_help_imports_no_torch():
    for command in ([], ["align"], ["sweep"], ["plot"], ["score"]):
        loaded = modules_after(
            f"from aligner.cli import main\ntry:\n    main({[*command, '--help']!r})\nexcept SystemExit:\n    pass"
        )
        assert "torch" not in loaded and "numpy" not in loaded, command


def test_scoring_imports_no_torch(tmp_path):
    gold, src, tgt, hyp = SAMPLE / "sample.talp", SAMPLE / "sample.de", SAMPLE / "sample.en", tmp_path / "hyp"
    hyp.write_text("0-0\n" * 20)
    loaded = modules_after(
        "from aligner.cli import main\n"
        f"try:\n    main(['score', '--gold', {str(gold)!r}, '--hyp', {str(hyp)!r}, '--src', {str(src)!r}, '--tgt', {str(tgt)!r}])\n"
        "except SystemExit:\n    pass"
    )
    assert "torch" not in loaded and "aligner.evaluation.scoring" in loaded


def test_choices_are_light():
    loaded = modules_after("import aligner.choices")
    assert "torch" not in loaded and "numpy" not in loaded
