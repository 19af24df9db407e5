"""Environment that keeps every component from calling out of the machine.

One table, spread into every environment the platform builds (the demo, `make up`,
pods, compose, Helm), so no component sends usage data unless a setting asks it to.
"""

from __future__ import annotations

# Each entry names the component it silences.
TELEMETRY_OFF: dict[str, str] = {
    # Airflow's usage-data collection (Scarf) and the generic opt-out several libraries read.
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "SCARF_ANALYTICS": "false",
    "DO_NOT_TRACK": "1",
    # astronomer-cosmos posts metrics to an outside host unless told not to.
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    # dbt's anonymous usage events (Snowplow).
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    # FiftyOne's usage tracking.
    "FIFTYONE_DO_NOT_TRACK": "true",
    # Hugging Face libraries: never reach a hub at run time.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
