# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEMO_VENV ?= .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed
PYTEST_ARGS ?=

.PHONY: gpu-prep venv test demo fixtures docs-image prepare-data teacher train-deen train-guided train-guided-full teacher-awi train-guided-awo track-guided-awi train-ende teacher-ende train-guided-ende track-guided track-guided-full track-guided-ende export-latest bench eflomal-baseline track-deen track-ende deen-best deen-measures paper-slice hf-opus-mt clean


$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# fairseq-fixed compiles against the torch already installed (hence --no-build-isolation),
	# so torch (the pinned CPU build) and the build tools go in first.
	$(PIP) install -q -c constraints.txt torch numpy cython setuptools wheel
	$(PIP) install -q -c constraints.txt --no-build-isolation -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

# The demo needs only the runtime (torch, numpy, click, sentencepiece, tqdm, jsonschema): its own venv, no dev,
# eval or fairseq extras; constraints.txt keeps torch the CPU build.
$(DEMO_STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install -q -c constraints.txt -e .
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	@mkdir -p build
	$(DEMO_VENV)/bin/aligner align --src data/sample/sample.de --tgt data/sample/sample.en -o build/demo.align --overwrite --scores
	@echo "--- alignments (Pharaoh i-j:score, 0-based, source first) ---"
	@cat build/demo.align
	@echo "--- scored against the hand-made gold data/sample/sample.talp ---"
	$(DEMO_VENV)/bin/aligner score --gold data/sample/sample.talp --hyp build/demo.align --src data/sample/sample.de --tgt data/sample/sample.en

fixtures: $(STAMP)
	TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 OMP_NUM_THREADS=1 $(PY) tests/fixtures/make_fixtures.py

# The README's picture: the bundled (toy) model on sample pair 3, weights vs norms per layer.
docs-image: $(STAMP)
	$(VENV)/bin/aligner plot --src data/sample/sample.de --tgt data/sample/sample.en --gold data/sample/sample.talp \
		--lines 3 --layers 1,2,3 --measures weight,norm --steps awi --no-preset --device cpu --dpi 100 \
		-o docs/alignment-example.png --overwrite

# --- training and evaluation (eval/; see eval/recipe/README.md). State lives outside the tree. ---
STATE ?= $(HOME)/.cache/aligner/train/deen
LATEST := build/models/deen-latest

prepare-data: $(STAMP)
	$(PY) eval/recipe/prepare_data.py --out $(STATE) --bundle data/models/deen-small

# Resumable: re-running continues from the save directory's checkpoint_last.pt.
train-deen: $(STAMP)
	bash eval/recipe/train.sh de-en

train-ende: $(STAMP)
	bash eval/recipe/train.sh en-de

# Guided alignment (Garg et al. 2019): teacher links from eflomal on the training pairs, then
# fairseq's transformer_align warm-started from the shipped plain model (eval/recipe/README.md).
# The shipped deen-guided is trained at the input step since 9,500 updates (GUIDED_STEP=awi): `teacher` writes
# both teachers (bin_align for AWO, bin_align_awi), `train-guided` continues the shipped model's objective.
teacher: $(STAMP)
	$(PY) eval/recipe/teacher_align.py --state $(STATE)
	$(PY) eval/recipe/teacher_align.py --state $(STATE) --step awi

train-guided: $(STAMP)
	GUIDED=1 GUIDED_STEP=awi bash eval/recipe/train.sh de-en

# fairseq's convention: head 1 of decoder layer 5 supervised at the predicting step (the shipped model to 9,500).
train-guided-awo: $(STAMP)
	GUIDED=1 bash eval/recipe/train.sh de-en

# The same with --full-context-alignment (read with `--step full`); save dir ckpt_de_en_guided_full.
train-guided-full: $(STAMP)
	GUIDED=1 FULL_CONTEXT=1 bash eval/recipe/train.sh de-en

# Only the input-step teacher (after a `make teacher` of an earlier version: eflomal is not run again).
teacher-awi: $(STAMP)
	$(PY) eval/recipe/teacher_align.py --state $(STATE) --step awi

# The reverse guided model for symmetrization: its teacher (the same eflomal links, roles swapped,
# binarized en-de into bin_align), then en->de transformer_align started from the de->en guided
# bundle (joint vocabulary, so every weight fits; warm_start.py --reverse-direction); save dir ckpt_en_de_guided.
teacher-ende: $(STAMP)
	$(PY) eval/recipe/teacher_align.py --state $(STATE) --direction en-de

train-guided-ende: $(STAMP)
	GUIDED=1 WARM_REVERSE=1 WARM_FROM=$(CURDIR)/aligner/models/deen-guided bash eval/recipe/train.sh en-de

# The paper's setting (separate vocabularies, transformer_iwslt_de_en) end to end on a small slice; ~10 min.
paper-slice: $(STAMP)
	bash eval/recipe/paper_slice.sh

# Each model's best setting (plain, guided; + symmetrized with REVERSE=) vs eflomal, chosen on deen_bicici100 (eval/results/deen-best.md).
# JOBS=2 selects both models at once (one process and one thread each). GUIDED_FULL_CKPT= adds the
# guided run trained with --full-context-alignment as a third model, GUIDED_AWI_CKPT= the run supervised at the
# input step (make train-guided); REVERSE=guided=EN_DE_CKPT symmetrizes
# the guided model with an en->de one (REVERSE=PATH: with the first, plain).
PLAIN_CKPT ?= data/models/deen-small
GUIDED_CKPT ?= $(STATE)/ckpt_de_en_guided_awi/checkpoint_last.pt
GUIDED_FULL_CKPT ?=
GUIDED_AWI_CKPT ?=
REVERSE ?=
JOBS ?= 1
deen-best: $(STAMP)
	$(PY) eval/deen_best.py --forward plain=$(PLAIN_CKPT) --forward guided=$(GUIDED_CKPT) \
		$(if $(GUIDED_FULL_CKPT),--forward guided-full=$(GUIDED_FULL_CKPT)) \
		$(if $(GUIDED_AWI_CKPT),--forward guided-awi=$(GUIDED_AWI_CKPT)) --jobs $(JOBS) \
		$(if $(REVERSE),--reverse $(REVERSE)) --data-dir $(STATE)/bin --spm $(STATE)/spm/spm.model

# Every measure (weight, norm, ALTI+, AttnRes(Ln)-N, value zeroing) per layer on the RWTH gold for the shipped
# models, the dev-chosen best on test, and cost ratios vs norm on 2,000 newstest2014 pairs (eval/results/deen-measures.md).
deen-measures: $(STAMP)
	$(PY) eval/deen_measures.py --models deen-guided,deen-small --cost-pairs 2000

# The newest de->en checkpoint as an aligner bundle (fp16, no optimizer state).
export-latest: $(STAMP)
	$(PY) eval/export_bundle.py $(STATE)/ckpt_de_en/checkpoint_last.pt $(LATEST) \
		--data-dir $(STATE)/bin --spm $(STATE)/spm/spm.model --name deen-latest

# Throughput of aligner vs the paper's way vs fairseq (eval/results/bench.md, ~6 min), then the scaling
# to 100k pairs (bench-scaling.md, ~17 min). SCALING= skips the scaling runs.
SCALING ?= 1000,10000,100000
# The shipped bundle on 2,000 distinct newstest2014 pairs from $$ALIGNER_DATA (../shared/data); pause training first.
bench:
	$(PY) eval/bench.py --pairs 2000 --out eval/results/bench.md --scaling "$(SCALING)" --scaling-out eval/results/bench-scaling.md

# What a lent GPU machine needs for eval/bench_gpu.py (it has torch, click, sentencepiece, tqdm, numpy, not
# jsonschema): the pairs and the missing wheels for its Python 3.12, under build/gpu (ignored; `carry` it).
# On the device: see eval/bench_gpu.py's docstring.
GPU_WHEELS := jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
gpu-prep: $(STAMP)
	mkdir -p build/gpu/whl
	$(PY) -c "import sys; sys.path.insert(0, 'eval'); from pathlib import Path; from newstest import write_newstest; \
		write_newstest(Path('$(or $(ALIGNER_DATA),../shared/data)'), 2000, Path('build/gpu'))"
	$(PIP) download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d build/gpu/whl $(GPU_WHEELS)

# eflomal on the NMT training corpus + the gold text, scored on both de-en gold sets (eval/results/eflomal.md); ~5 min, 1 thread.
eflomal-baseline: $(STAMP)
	$(PY) eval/eflomal_baseline.py --state $(STATE)

# Dev-set (deen_bicici100) AER of every de->en checkpoint not yet measured (eval/results/deen-training-curve.md).
track-deen: $(STAMP)
	$(PY) eval/track_checkpoints.py --save-dir $(STATE)/ckpt_de_en --data-dir $(STATE)/bin --spm $(STATE)/spm/spm.model

track-guided: $(STAMP)
	$(PY) eval/track_checkpoints.py --save-dir $(STATE)/ckpt_de_en_guided --data-dir $(STATE)/bin --spm $(STATE)/spm/spm.model \
		--heads --results eval/results/deen-guided-training-curve.json

# The guided run trained with --full-context-alignment (FULL_CONTEXT=1 train.sh); its curve adds step `full`.
track-guided-full: $(STAMP)
	$(PY) eval/track_checkpoints.py --save-dir $(STATE)/ckpt_de_en_guided_full --data-dir $(STATE)/bin --spm $(STATE)/spm/spm.model \
		--heads --results eval/results/deen-guided-full-training-curve.json

track-guided-awi: $(STAMP)
	$(PY) eval/track_checkpoints.py --save-dir $(STATE)/ckpt_de_en_guided_awi --data-dir $(STATE)/bin --spm $(STATE)/spm/spm.model \
		--heads --results eval/results/deen-guided-awi-training-curve.json

track-guided-ende: $(STAMP)
	$(PY) eval/track_checkpoints.py --save-dir $(STATE)/ckpt_en_de_guided --data-dir $(STATE)/bin --spm $(STATE)/spm/spm.model \
		-s en -t de --reverse --heads --results eval/results/ende-guided-training-curve.json

track-ende: $(STAMP)
	$(PY) eval/track_checkpoints.py --save-dir $(STATE)/ckpt_en_de --data-dir $(STATE)/bin --spm $(STATE)/spm/spm.model \
		-s en -t de --reverse --results eval/results/ende-training-curve.json

# OPUS-MT de->en (Hugging Face MarianMT) on the RWTH gold: sweep by layer and head, select on the dev set,
# align and score. Needs hub access for the one download (never run on the development machine: no network).
hf-opus-mt: $(STAMP)
	$(PIP) install -q -c constraints.txt -e '.[hf]'
	PY=$(PY) bash eval/hf_opus_mt.sh

clean:
	rm -rf build .pytest_cache
