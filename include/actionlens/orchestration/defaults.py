"""Policy every DAG shares: owner, retries, tags."""

from datetime import timedelta

OWNER = "actionlens"

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
}

BASE_TAGS = ["actionlens"]

# DuckDB allows one writing process per file: with the embedded warehouse every task that
# writes it runs in this pool, created with one slot by the platform itself (preflight,
# `make up`, the demo, the Helm values).
WAREHOUSE_POOL = "actionlens_warehouse"
