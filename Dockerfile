# codesieve gateway image. The model server runs beside it (vLLM's own image on GPUs, or this
# image's `engine` target on CPUs); see README "Running with Docker".
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CODESIEVE_DATA_DIR=/var/lib/codesieve HF_HUB_OFFLINE=1
RUN useradd --system --uid 10001 --home-dir /var/lib/codesieve --create-home codesieve
WORKDIR /app
COPY pyproject.toml README.md ./
COPY codesieve ./codesieve
COPY gateway ./gateway
COPY dedup ./dedup
COPY training ./training
COPY experiments ./experiments

# The gateway: no torch, no vLLM; PostgreSQL driver included.
FROM base AS gateway
RUN pip install '.[postgres]'
USER codesieve
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"
ENTRYPOINT ["codesieve", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--upstream", "http://vllm:8100"]

# A CPU vLLM engine with the local model tooling (for machines without a GPU).
# PyPI's Linux torch wheel is a CUDA build; pass a CPU wheel index with
#   --build-arg PIP_EXTRA_INDEX_URL=<your CPU torch index or mirror>
FROM base AS engine
ARG PIP_EXTRA_INDEX_URL=""
RUN pip install 'torch==2.13.0' && pip install '.[engine,train]' \
 && pip uninstall -y torchvision torchaudio torchcodec || true
USER codesieve
EXPOSE 8100
ENV VLLM_CPU_KVCACHE_SPACE=2
ENTRYPOINT ["python", "-m", "vllm.entrypoints.openai.api_server", "--host", "0.0.0.0", "--port", "8100", \
            "--dtype", "float32", "--enforce-eager"]
CMD ["--model", "/models/tiny-code", "--served-model-name", "tiny-code", "--max-model-len", "1024"]
