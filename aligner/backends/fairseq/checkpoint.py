"""Reading fairseq checkpoints safely and without fairseq.

A checkpoint is a pickle; unpickling an arbitrary one can run code. It is read with
``torch.load(weights_only=True)`` and only data-only globals allowed; anything else is
refused with the global named. The model options (flat ``args`` of old checkpoints, or
``cfg["model"]`` as a Namespace or a possibly nested dict) are normalized to a
:class:`~aligner.backends.fairseq.transformer.TransformerSpec`, and legacy state-dict layouts to today's keys.
"""

from __future__ import annotations

import argparse
import logging
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch

from ...errors import CheckpointError, ResourceError, UnsupportedModelError
from ...hashcache import cached_sha256
from .transformer import ACTIVATIONS, TransformerModel, TransformerSpec

logger = logging.getLogger(__name__)


def _numpy_safe_globals() -> list[Any]:
    """numpy's data-only reconstructors, under both the numpy 1.x and 2.x module names.

    Training states pickled with numpy (fairseq #5603) name e.g.
    ``numpy.core.multiarray._reconstruct``; numpy 2 moved it to ``numpy._core``.
    """
    multiarray = np._core.multiarray  # type: ignore[attr-defined]
    entries: list[Any] = [np.ndarray, np.dtype]
    for name in ("_reconstruct", "scalar"):
        function = getattr(multiarray, name)
        entries += [(function, f"numpy.core.multiarray.{name}"), (function, f"numpy._core.multiarray.{name}")]
    entries += [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]
    return entries


SAFE_GLOBALS: list[Any] = [argparse.Namespace, *_numpy_safe_globals()]
_UNSUPPORTED_GLOBAL = re.compile(r"(?:Unsupported global|GLOBAL) ([\w.]+)")


def read_checkpoint(path: Path | str) -> dict[str, Any]:
    """Unpickle a checkpoint with only data-only globals allowed."""
    path = Path(path)
    if not path.is_file():
        raise ResourceError("checkpoint not found", path)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notes say nothing a user can act on
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        unsafe = _unsafe_globals(path, str(exc))
        if unsafe:
            raise CheckpointError(
                f"refused: the checkpoint needs the pickled global(s) {', '.join(unsafe)}, which are not plain data "
                "and could run code when loaded; aligner only unpickles tensors, argparse.Namespace and numpy arrays",
                path,
            ) from None
        raise CheckpointError(f"not a readable PyTorch checkpoint ({_first_line(exc)})", path) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, AttributeError, ImportError, IndexError, KeyError) as exc:
        raise CheckpointError(f"not a readable PyTorch checkpoint ({type(exc).__name__}: {_first_line(exc)})", path) from None
    if not isinstance(state, dict) or "model" not in state or not isinstance(state["model"], Mapping):
        raise CheckpointError("not a fairseq checkpoint: no 'model' state dict at the top level", path)
    if state.get("cfg") is None and state.get("args") is None:
        raise CheckpointError("not a fairseq checkpoint: it has neither 'cfg' nor 'args'", path)
    return state


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "weights_only" in text:
        # torch's message advises re-running with weights_only=False, which would run whatever
        # code the file holds: never pass that advice on.
        return "torch refused to unpickle it as plain data"
    return first


def _unsafe_globals(path: Path, message: str) -> list[str]:
    allowed = {f"{obj.__module__}.{obj.__qualname__}" for obj in SAFE_GLOBALS if not isinstance(obj, tuple)}
    allowed |= {name for obj in SAFE_GLOBALS if isinstance(obj, tuple) for name in obj[1:]}
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # legacy (non-zip) files: fall back to the name in torch's message, or the pickle's own
        names = _UNSUPPORTED_GLOBAL.findall(message) or _raw_pickle_globals(path)
    return sorted({name for name in names if name not in allowed})


def _raw_pickle_globals(path: Path) -> list[str]:
    """The globals a plain pickle imports, read from its opcodes (nothing is executed)."""
    import pickletools

    names: list[str] = []
    strings: list[str] = []
    try:
        with open(path, "rb") as stream:
            for opcode, argument, _ in pickletools.genops(stream):
                if opcode.name in ("GLOBAL", "INST") and isinstance(argument, str):
                    names.append(argument.replace(" ", "."))
                elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(f"{strings[-2]}.{strings[-1]}")
                if isinstance(argument, str):
                    strings.append(argument)
    except Exception:  # not a pickle at all, or a truncated one: whatever was read so far
        pass
    return names


# --- model options ----------------------------------------------------------------------

_NESTED_GROUPS = ("encoder", "decoder", "quant_noise")

# fairseq's transformer base_architecture defaults, for options an old checkpoint omits.
_DEFAULTS: dict[str, Any] = {
    "encoder_attention_heads": 8,
    "decoder_attention_heads": 8,
    "encoder_normalize_before": False,
    "decoder_normalize_before": False,
    "encoder_learned_pos": False,
    "decoder_learned_pos": False,
    "no_token_positional_embeddings": False,
    "layernorm_embedding": False,
    "no_scale_embedding": False,
    "activation_fn": "relu",
    "max_source_positions": 1024,
    "max_target_positions": 1024,
    "no_decoder_final_norm": False,
}

# Options that change the inference forward pass in ways aligner does not implement.
_UNSUPPORTED: dict[str, str] = {
    "cross_self_attention": "decoder self-attention over encoder states (cross_self_attention)",
    "adaptive_input": "adaptive input embeddings (adaptive_input)",
    "tie_adaptive_weights": "adaptive input/softmax weight tying (tie_adaptive_weights)",
    "quant_noise_pq": "quant-noise, which adds a projection to the embeddings (quant_noise_pq > 0)",
    "scale_attn": "NormFormer attention scaling (scale_attn)",
    "scale_fc": "NormFormer FFN scaling (scale_fc)",
    "scale_heads": "NormFormer head scaling (scale_heads)",
    "scale_resids": "NormFormer residual scaling (scale_resids)",
    "encoder_layers_to_keep": "layer pruning (encoder_layers_to_keep)",
    "decoder_layers_to_keep": "layer pruning (decoder_layers_to_keep)",
    "char_inputs": "character inputs (char_inputs)",
    "base_layers": "BASE layers (base_layers)",
    "no_cross_attention": "a decoder without cross-attention (no_cross_attention)",
}


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, argparse.Namespace):
        return dict(vars(value))
    if isinstance(value, Mapping):
        return dict(value)
    raise CheckpointError(f"unexpected model configuration of type {type(value).__name__}")


def flatten_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Nested ``encoder: {embed_dim: ...}`` -> flat ``encoder_embed_dim``, as fairseq's legacy names."""
    flat: dict[str, Any] = {}
    for key, value in options.items():
        if key in _NESTED_GROUPS and isinstance(value, (Mapping, argparse.Namespace)):
            for inner, inner_value in _as_dict(value).items():
                flat[f"{key}_{inner}"] = inner_value
        else:
            flat[key] = value
    if "_name" in flat and "arch" not in flat:
        flat["arch"] = flat["_name"]
    return flat


def checkpoint_options(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model options, task options) from a ``cfg`` (fairseq >= 0.10) or ``args`` checkpoint."""
    cfg = state.get("cfg")
    if cfg is not None:
        cfg = _as_dict(cfg)
        return flatten_options(_as_dict(cfg.get("model"))), _as_dict(cfg.get("task"))
    args = _as_dict(state.get("args"))
    return flatten_options(args), args


def _check_supported(options: Mapping[str, Any], path: Path) -> None:
    arch = str(options.get("arch") or "transformer")
    if not arch.startswith("transformer") or arch.startswith("transformer_lm"):
        raise UnsupportedModelError(
            f"architecture {arch!r} is not supported; aligner reads fairseq encoder-decoder 'transformer*' models", path
        )
    for option, description in _UNSUPPORTED.items():
        if options.get(option):
            raise UnsupportedModelError(f"model option {option}={options[option]!r} is not supported: {description}", path)
    activation = options.get("activation_fn") or "relu"
    if activation not in ACTIVATIONS:
        raise UnsupportedModelError(f"model option activation_fn={activation!r} is not supported", path)


# --- state dict -------------------------------------------------------------------------

# Keys no inference forward pass needs: buffers, the output projection (never run), and the
# all-zero per-layer keys fairseq 0.12.2 writes into encoder layers.
_IGNORED = re.compile(
    r"(.*\.version|.*\._float_tensor|.*embed_positions\._float_tensor|decoder\.output_projection\..*|decoder\.embed_out"
    r"|decoder\.adaptive_softmax\..*"
    r"|encoder\.layers\.\d+\.(in_proj_weight|in_proj_bias|out_proj_weight|out_proj_bias|fc1_weight|fc1_bias|fc2_weight|fc2_bias))"
)
_LAYER_NORMS = {
    "encoder": {"0": "self_attn_layer_norm", "1": "final_layer_norm"},
    "decoder": {"0": "self_attn_layer_norm", "1": "encoder_attn_layer_norm", "2": "final_layer_norm"},
}
_STACKED = re.compile(r"(.*\.(?:self_attn|encoder_attn))\.in_proj_(weight|bias)")
_OLD_LAYER_NORM = re.compile(r"(encoder|decoder)(\.layers\.\d+\.)layer_norms\.(\d)\.(weight|bias)")


def _version(state_dict: Mapping[str, torch.Tensor], prefix: str) -> float:
    # fairseq treats a missing version as 1 (checkpoints older than the version buffer).
    value = state_dict.get(f"{prefix}.version")
    return float(value.flatten()[0]) if value is not None else 1.0


def normalize_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Today's fairseq key names: split stacked ``in_proj``, rename ``layer_norms.N``, drop the rest."""
    normalized: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if _IGNORED.fullmatch(key):
            continue
        stacked = _STACKED.fullmatch(key)
        if stacked:
            for name, part in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                normalized[f"{stacked.group(1)}.{name}.{stacked.group(2)}"] = part
            continue
        old = _OLD_LAYER_NORM.fullmatch(key)
        if old:
            side, layer, number, kind = old.groups()
            key = f"{side}{layer}{_LAYER_NORMS[side][number]}.{kind}"
        normalized[key] = tensor
    return normalized


def _layer_count(state_dict: Mapping[str, torch.Tensor], side: str) -> int:
    indices = {int(m.group(1)) for key in state_dict if (m := re.match(rf"{side}\.layers\.(\d+)\.", key))}
    return max(indices) + 1 if indices else 0


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    sha256: str
    arch: str
    source_lang: Optional[str]
    target_lang: Optional[str]
    data: Optional[str]
    full_context_alignment: bool = False  # transformer_align trained with --full-context-alignment


def build_model(
    state: Mapping[str, Any], path: Path, dtype: torch.dtype = torch.float32
) -> tuple[TransformerModel, dict[str, Any], dict[str, Any]]:
    """The model of an unpickled checkpoint, with its (model, task) options."""
    from ...schemas import CHECKPOINT_OPTIONS, validate

    options, task = checkpoint_options(state)
    validate(options, CHECKPOINT_OPTIONS, path, CheckpointError, prefix="model option ")
    _check_supported(options, path)
    raw = state["model"]
    state_dict = normalize_state_dict(raw)
    for side in ("encoder", "decoder"):
        if f"{side}.embed_tokens.weight" not in state_dict:
            raise CheckpointError(f"missing {side}.embed_tokens.weight: not a fairseq translation Transformer", path)

    def option(name: str) -> Any:
        value = options.get(name)
        return _DEFAULTS[name] if value is None else value

    spec_values = {f.name: option(f.name) for f in fields(TransformerSpec) if f.name in _DEFAULTS}
    spec = TransformerSpec(
        encoder_layers=_layer_count(state_dict, "encoder"),
        decoder_layers=_layer_count(state_dict, "decoder"),
        encoder_final_norm=bool(option("encoder_normalize_before")) and _version(raw, "encoder") >= 2,
        decoder_final_norm=bool(option("decoder_normalize_before"))
        and not option("no_decoder_final_norm")
        and _version(raw, "decoder") > 2,
        padding_idx=1,
        **spec_values,
    )
    if spec.decoder_layers == 0:
        raise CheckpointError("the checkpoint has no decoder layers", path)

    encoder_embed = state_dict["encoder.embed_tokens.weight"]
    decoder_embed = state_dict["decoder.embed_tokens.weight"]
    decoder_dim = state_dict["decoder.layers.0.self_attn.q_proj.weight"].shape[0]
    out_proj = state_dict.get("decoder.project_out_dim.weight")

    def learned_rows(side: str, learned: bool) -> Optional[int]:
        weight = state_dict.get(f"{side}.embed_positions.weight")
        if learned and weight is None and not spec.no_token_positional_embeddings:
            raise CheckpointError(f"{side}_learned_pos is set but {side}.embed_positions.weight is missing", path)
        return weight.shape[0] if learned and weight is not None else None

    for side, dim in (("encoder", encoder_embed.shape[1]), ("decoder", decoder_dim)):
        heads = getattr(spec, f"{side}_attention_heads")
        if dim % heads:
            raise CheckpointError(f"{side} width {dim} is not divisible by {heads} attention heads", path)

    model = TransformerModel(
        spec,
        src_vocab=encoder_embed.shape[0],
        tgt_vocab=decoder_embed.shape[0],
        encoder_embed_dim=encoder_embed.shape[1],
        decoder_input_dim=decoder_embed.shape[1],
        decoder_embed_dim=decoder_dim,
        decoder_output_dim=out_proj.shape[0] if out_proj is not None else decoder_dim,
        encoder_ffn_dim=state_dict["encoder.layers.0.fc1.weight"].shape[0] if spec.encoder_layers else 1,
        decoder_ffn_dim=state_dict["decoder.layers.0.fc1.weight"].shape[0],
        encoder_learned_rows=learned_rows("encoder", spec.encoder_learned_pos),
        decoder_learned_rows=learned_rows("decoder", spec.decoder_learned_pos),
    )
    ours = {_our_key(key): tensor for key, tensor in state_dict.items()}
    expected = set(model.state_dict())
    unknown = sorted(set(ours) - expected)
    if unknown:
        raise UnsupportedModelError(
            f"the checkpoint has parameters aligner does not implement: {', '.join(unknown[:5])}"
            + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""),
            path,
        )
    missing = sorted(expected - set(ours))
    if missing:
        raise CheckpointError(f"the checkpoint lacks parameters: {', '.join(missing[:5])}", path)
    expected_shapes = model.state_dict()
    for key in sorted(ours):
        found, wanted = tuple(ours[key].shape), tuple(expected_shapes[key].shape)
        if found != wanted:
            raise CheckpointError(f"parameter {key} has shape {list(found)}, the model options need {list(wanted)}", path)
    for key, tensor in state_dict.items():
        if tensor.is_floating_point() and not _all_finite(tensor):
            # NaN or infinite weights give empty alignments everywhere, silently.
            raise CheckpointError(f"tensor {key} holds non-finite values (NaN or inf): the checkpoint is broken", path)
    try:
        model.load_state_dict(ours)
    except RuntimeError as exc:
        raise CheckpointError(f"parameter shapes do not fit the model options ({_first_line(exc)})", path) from None
    # load_state_dict copies into the existing (float32) parameters, so the precision is set after it
    model.to(dtype).eval().requires_grad_(False)
    return model, options, task


def _all_finite(tensor: torch.Tensor) -> bool:
    # A NaN or inf anywhere makes the sum non-finite, so a finite sum proves the tensor finite at a
    # fifth of the element-wise check's cost (fp16 on CPU); only a sum that overflows needs that check.
    return bool(torch.isfinite(tensor.sum(dtype=torch.float32))) or bool(torch.isfinite(tensor).all())


def _our_key(key: str) -> str:
    """``encoder.layers.0.fc1.weight`` -> ``encoder_layers.0.fc1.weight``."""
    side, rest = key.split(".", 1)
    return f"{side}_{rest}"


def load_model(path: Path | str, dtype: torch.dtype = torch.float32) -> tuple[TransformerModel, CheckpointInfo]:
    path = Path(path)
    state = read_checkpoint(path)
    model, options, task = build_model(state, path, dtype)
    info = CheckpointInfo(
        path=path,
        sha256=cached_sha256(path),
        arch=str(options.get("arch") or "transformer"),
        source_lang=task.get("source_lang"),
        target_lang=task.get("target_lang"),
        data=task.get("data"),
        full_context_alignment=bool(options.get("full_context_alignment")),
    )
    logger.info("loaded %s (%s, %d+%d layers)", path, info.arch, model.spec.encoder_layers, model.spec.decoder_layers)
    return model, info
