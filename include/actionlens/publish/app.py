"""What the FiftyOne App needs to show the platform's dataset with its operators.

`app_environment(settings)` is the environment to start the App server with
(`python -m fiftyone.server.main --port …`): the platform's MongoDB, the repo's FiftyOne
plugins (the text → video search operator `@actionlens/search/search_videos`) and the
settings the operator reads."""

from __future__ import annotations

from pathlib import Path

from actionlens.settings import Settings, environment_for
from actionlens.telemetry import TELEMETRY_OFF

PLUGINS_DIR = Path(__file__).resolve().parent / "app_plugins"
SEARCH_OPERATOR = "@actionlens/search/search_videos"


def app_environment(settings: Settings) -> dict[str, str]:
    from actionlens.store.mongo import mongo_uri

    return {
        **TELEMETRY_OFF,
        **environment_for(settings),
        "FIFTYONE_DATABASE_URI": mongo_uri(settings),
        "FIFTYONE_PLUGINS_DIR": str(PLUGINS_DIR),
    }
