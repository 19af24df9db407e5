# The GPU worker image (settings.pods.gpu_image): one heavy step per pod,
# `python -m actionlens <step> <arguments>`, with the pinned torch and transformers.
# Built by `make images` from the repository root:
#   docker buildx build -f deploy/docker/gpu.Dockerfile -t ghcr.io/actionlens/actionlens-gpu:0.1.0-cu130 .
#
# uv fetches a standalone CPython 3.11: the CUDA images ship Ubuntu's Python (3.12 on 24.04),
# and the package and its pins are made for 3.11 (pyproject requires-python).
FROM ghcr.io/astral-sh/uv:0.13.8 AS uv

# The CUDA major must be the one the pinned torch wheel was built for: torch==2.14.1 pulls
# cuda-toolkit==13.0.* (nvidia-*-cu13), whose libraries need a CUDA 13 driver. The base image
# declares NVIDIA_REQUIRE_CUDA=cuda>=13.0, so a node with an older driver refuses the pod at
# start ("unsatisfied condition: cuda>=13.0") instead of torch failing later with
# "CUDA driver version is insufficient" in the middle of a batch.
FROM nvidia/cuda:13.0.2-runtime-ubuntu24.04

# Nothing leaves the cluster unless a setting asks for it (actionlens.telemetry.TELEMETRY_OFF;
# tests/deploy/test_deploy.py checks every variable of that table is set here).
ENV AIRFLOW__USAGE_DATA_COLLECTION__ENABLED=False \
    SCARF_ANALYTICS=false \
    DO_NOT_TRACK=1 \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    FIFTYONE_DO_NOT_TRACK=true \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1

# Python lives outside /root (uv's default) so the non-root user below can run it. Bytecode is
# compiled at build time: the venv is root-owned, so the step (uid 50000) could not write its
# .pyc files and every pod would compile torch and transformers again on start.
# PYTHONUNBUFFERED: the operator streams the pod's output into the task log (get_logs); a
# block-buffered stdout would show a step's progress only when it exits.
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/actionlens/include \
    PYTHONUNBUFFERED=1

COPY --from=uv /uv /usr/local/bin/uv
RUN uv python install 3.11.14 \
    && uv venv --python 3.11.14 /opt/venv

# Exactly the set requirements.txt pins (a full freeze): torch, transformers and the CUDA 13
# runtime wheels they need, the same versions the tests ran against.
COPY requirements.txt /opt/actionlens/requirements.txt
RUN uv pip install --no-deps -r /opt/actionlens/requirements.txt

# Same source layout as the Airflow image (settings.REPO_ROOT resolves dbt/ and var/ from it).
COPY pyproject.toml /opt/actionlens/pyproject.toml
COPY include /opt/actionlens/include
COPY dbt /opt/actionlens/dbt

# A fixed non-root uid in group 0 (as the Airflow image): clusters that forbid root pods
# (runAsNonRoot) would otherwise refuse to start the step. var/ is the default home.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/actionlens --no-create-home actionlens \
    && install -d -o 50000 -g 0 -m 2775 /opt/actionlens/var
USER 50000
WORKDIR /opt/actionlens

ENTRYPOINT ["python", "-m", "actionlens"]
