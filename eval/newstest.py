"""The bench's default pairs: the first N distinct newstest2014 pairs of the shared de-en data.

Moses-tokenized (sacremoses) where it is installed, else split on whitespace; lowercasing is
left to the model's preprocessing, as in a user's run. Distinct pairs only: repeats would let
the word cache flatter the figures.
"""

from __future__ import annotations

from pathlib import Path

ORIGIN = "newstest2014"


def newstest_pairs(data_dir: Path, count: int) -> list[tuple[str, str]]:
    folder = Path(data_dir) / "train" / "deen" / "more"
    try:
        from sacremoses import MosesTokenizer

        tokenizers = {"de": MosesTokenizer("de"), "en": MosesTokenizer("en")}
        tokenize = lambda text, lang: tokenizers[lang].tokenize(text, escape=False, return_str=True)
    except ImportError:
        tokenize = lambda text, lang: " ".join(text.split())
    seen: set[tuple[str, str]] = set()
    pairs = []
    with open(folder / "all.origin", encoding="utf-8") as origins, open(folder / "all.de", encoding="utf-8") as de, \
            open(folder / "all.en", encoding="utf-8") as en:
        for origin, src, tgt in zip(origins, de, en):
            if not origin.rstrip("\n").endswith(ORIGIN) or (src, tgt) in seen or not src.strip() or not tgt.strip():
                continue
            seen.add((src, tgt))
            pairs.append((tokenize(src.strip(), "de"), tokenize(tgt.strip(), "en")))
            if len(pairs) == count:
                break
    return pairs


def write_newstest(data_dir: Path, count: int, out_dir: Path) -> tuple[Path, Path]:
    """``out_dir/newstest2014.{de,en}`` with the first ``count`` distinct pairs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    src, tgt = out_dir / f"{ORIGIN}.de", out_dir / f"{ORIGIN}.en"
    pairs = newstest_pairs(data_dir, count)
    src.write_text("".join(f"{s}\n" for s, _ in pairs), encoding="utf-8")
    tgt.write_text("".join(f"{t}\n" for _, t in pairs), encoding="utf-8")
    return src, tgt
