"""The Assets that connect the DAGs: each event's `extra` carries the video ids."""

from airflow.sdk import Asset

STORED_CLIPS = Asset(name="actionlens_stored_clips", uri="actionlens://videos/stored")
ANNOTATIONS = Asset(name="actionlens_annotations", uri="actionlens://nodes/annotations")
OPINIONS = Asset(name="actionlens_opinions", uri="actionlens://nodes/opinions")
