"""The warehouse: raw tables loaded from MongoDB, modelled by the dbt project in dbt/.

What other stages may use of it (publishing reads confidence, records sample links and
refreshes them in the marts snapshot the dashboard reads; search reads the links).
"""

from actionlens.warehouse.backends import open_warehouse
from actionlens.warehouse.query import fiftyone_sample_url, video_confidence
from actionlens.warehouse.snapshot import publish_snapshot
from actionlens.warehouse.tables import FIFTYONE_SAMPLES

__all__ = [
    "FIFTYONE_SAMPLES",
    "fiftyone_sample_url",
    "open_warehouse",
    "publish_snapshot",
    "video_confidence",
]
