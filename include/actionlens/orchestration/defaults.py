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
