"""The confidence warehouse's dbt stage in a DAG.

- DuckDB (the embedded default) takes one writing process at a time, so the stage is one
  task, `dbt_build` (`python -m actionlens build-warehouse`: one `dbt build` of the whole
  project, parsed once, with dbt's own threads), in the warehouse pool; it then publishes
  the marts snapshot the dashboard reads.
- Postgres and BigQuery take parallel writers: a Cosmos task group, one task per model
  (`dbt build --select <model>`, its data and unit tests included). Cosmos parses the
  project files itself (LoadMode.CUSTOM), so parsing the DAG never runs dbt; connection
  details and vars come from the platform settings.
"""

from __future__ import annotations

from typing import Any

from actionlens.settings import Settings, get_settings
from actionlens.telemetry import TELEMETRY_OFF
from actionlens.warehouse.dbt import DBT_PROJECT_DIR, dbt_env, dbt_executable, dbt_vars


def warehouse_build(group_id: str = "dbt_build", *, settings: Settings | None = None) -> Any:
    """The dbt stage for the configured warehouse (see the module doc); Cosmos is
    imported only when it is used."""
    from actionlens.orchestration.runner import heavy_step

    settings = settings or get_settings()
    if settings.warehouse == "duckdb":
        return heavy_step(
            "build-warehouse", task_id=group_id, writes_warehouse=True, settings=settings
        ).expand(arguments=[[]])
    return confidence_task_group(group_id, settings=settings)


def confidence_task_group(
    group_id: str = "dbt_build",
    *,
    settings: Settings | None = None,
    schema: str | None = None,
    **kwargs: Any,
):
    """A DbtTaskGroup building every model of dbt/ on the configured warehouse."""
    from cosmos import (
        DbtTaskGroup,
        ExecutionConfig,
        ProfileConfig,
        ProjectConfig,
        RenderConfig,
    )
    from cosmos.constants import (
        ExecutionMode,
        InvocationMode,
        LoadMode,
        TestBehavior,
        TestIndirectSelection,
    )

    settings = settings or get_settings()
    env = {**dbt_env(settings, schema), **TELEMETRY_OFF}
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR,
            env_vars=env,
            dbt_vars=dbt_vars(settings),
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name="actionlens",
            target_name=settings.warehouse,
            profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=dbt_executable(),
            # A relationships test runs with the model built last of its parents, never
            # before the other parent exists.
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.CUSTOM,
            test_behavior=TestBehavior.BUILD,
            emit_datasets=False,
            enable_mock_profile=False,
        ),
        operator_args={"install_deps": False},
        **kwargs,
    )
