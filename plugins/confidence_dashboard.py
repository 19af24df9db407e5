"""The confidence dashboard as an Airflow 3 UI plugin (a FastAPI app under /confidence).

Requests need an Airflow login (the UI's JWT cookie or a bearer token): 401 otherwise.
The page reads the marts built by the `agreement` DAG — on DuckDB the snapshot published
after each successful build, so a running build never fails it — and says how fresh
they are and whether the last build failed.
"""

from __future__ import annotations

from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse

app = FastAPI(title="actionlens confidence")


@app.get("/", response_class=HTMLResponse)
def confidence_page(user: GetUserDep) -> str:
    """Distributions, tags, trend and least-trusted videos from the warehouse."""
    from actionlens.dashboard.page import gather, render
    from actionlens.settings import get_settings

    return render(gather(get_settings()))


@app.get("/data")
def confidence_data(user: GetUserDep) -> dict:
    from actionlens.dashboard.page import gather
    from actionlens.settings import get_settings

    return gather(get_settings())


@app.get("/videos/{video_id}/fiftyone")
def fiftyone_sample(video_id: str, user: GetUserDep) -> RedirectResponse:
    """Redirect to the video's sample in the FiftyOne App."""
    from actionlens.dashboard.page import fiftyone_sample_url
    from actionlens.errors import InputError
    from actionlens.records import validate_video_id
    from actionlens.settings import get_settings

    try:
        validate_video_id(video_id)
    except InputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    from actionlens.warehouse.backends import WarehouseLocked

    settings = get_settings()
    try:
        url = fiftyone_sample_url(settings, video_id)
    except WarehouseLocked as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    if url is None:
        raise HTTPException(
            status_code=404,
            detail=f"video {video_id!r} is not published to FiftyOne dataset "
            f"{settings.fiftyone.dataset!r} yet",
        )
    return RedirectResponse(url, status_code=307)


class ConfidenceDashboardPlugin(AirflowPlugin):
    name = "actionlens_confidence"
    fastapi_apps = [{"app": app, "url_prefix": "/confidence", "name": "Confidence dashboard"}]
    external_views = [
        {
            "name": "Confidence",
            "href": "/confidence/",
            "destination": "nav",
            "url_route": "confidence",
        }
    ]
