# One image for the four services; the command picks the service:
#
#   docker build -t continuous-benchmarks .
#   docker run --rm continuous-benchmarks serve runner      # or gateway | scorer | aggregator
#   docker run --rm continuous-benchmarks run /work/spec.yaml   # any other `benchmarks` command
#
# Stage 1 builds a virtualenv with the project and its dependencies; stage 2 copies only that
# virtualenv onto the same slim Python base: no pip cache, compilers or headers in the final image.
# PYTHON_VERSION matches the interpreter the test suite runs on; both stages must use the same one.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Every dependency ships manylinux wheels. A dependency that ever needs a compiler gets it here,
# never in the final stage.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p shared services && touch shared/__init__.py services/__init__.py \
    && pip install . \
    && pip uninstall -y continuous-benchmarks
COPY shared/ shared/
COPY services/ services/
# Not editable: the code lives in site-packages, nothing points back at /src.
# Bytecode is compiled now because the root filesystem is read-only at run time.
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv/lib \
    && pip uninstall -y pip setuptools wheel

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="continuous-benchmarks" \
      org.opencontainers.image.description="Benchmarks AI models continuously and watches them for drift" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it without /etc/passwd lookups.
RUN groupadd --system --gid 10001 benchmarks \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin benchmarks
COPY --from=build /opt/venv /opt/venv
# BENCH_SERVICE_HOST: inside a container the HTTP endpoints must listen on every interface,
# or probes and Prometheus cannot reach them. HOME=/tmp: the only writable place (an emptyDir or
# tmpfs) when the root filesystem is mounted read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    BENCH_SERVICE_HOST=0.0.0.0
USER 10001:10001
WORKDIR /tmp
# gateway, runner, scorer, aggregator (BENCH_<SERVICE>_PORT defaults)
EXPOSE 8000 8001 8002 8003
# uvicorn handles SIGTERM itself (stops accepting, drains, then stops the Kafka consumers), so the
# entry point is the console script with no shell in between to swallow the signal.
ENTRYPOINT ["benchmarks"]
CMD ["--help"]
