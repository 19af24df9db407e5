"""`python -m actionlens preflight`: the warehouse pool, connections and warehouse lock are
named before the scheduler meets them; and the environments the platform builds keep
telemetry off."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from actionlens.orchestration.defaults import WAREHOUSE_POOL
from actionlens.settings import Settings
from actionlens.telemetry import TELEMETRY_OFF

pytestmark = pytest.mark.airflow


def _pool_slots() -> int | None:
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        pool = Pool.get_pool(WAREHOUSE_POOL, session=session)
        return None if pool is None else pool.slots


def _set_pool(slots: int | None) -> None:
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        if slots is None:
            session.query(Pool).filter(Pool.pool == WAREHOUSE_POOL).delete()
        else:
            Pool.create_or_update_pool(
                WAREHOUSE_POOL, slots=slots, description="test", include_deferred=False,
                session=session,
            )  # fmt: skip


@pytest.fixture
def no_pool(airflow_db):
    _set_pool(None)
    yield
    _set_pool(None)


def test_a_missing_pool_is_named_and_created_once(no_pool, tmp_path):
    from actionlens.errors import ConfigurationError
    from actionlens.orchestration.preflight import preflight

    settings = Settings(home=tmp_path, duckdb_path=str(tmp_path / "w.duckdb"))
    with pytest.raises(ConfigurationError) as caught:
        preflight(settings)
    assert f"Airflow pool '{WAREHOUSE_POOL}' is missing" in str(caught.value)
    assert "--create-pool" in str(caught.value)
    assert _pool_slots() is None  # checking alone creates nothing

    first = preflight(settings, create_pool=True)
    assert first["pool"] == {
        "name": WAREHOUSE_POOL, "needed": True, "slots": 1, "created": True, "fixed": False,
    }  # fmt: skip
    again = preflight(settings, create_pool=True)
    assert again["pool"]["created"] is False and again["pool"]["fixed"] is False
    assert _pool_slots() == 1


def test_a_pool_with_more_slots_is_refused_then_set_back_to_one(no_pool, tmp_path):
    from actionlens.errors import ConfigurationError
    from actionlens.orchestration.preflight import preflight

    settings = Settings(home=tmp_path, duckdb_path=str(tmp_path / "w.duckdb"))
    _set_pool(4)
    with pytest.raises(ConfigurationError, match="has 4 slots"):
        preflight(settings)
    assert preflight(settings, create_pool=True)["pool"]["fixed"] is True
    assert _pool_slots() == 1


def test_postgres_does_not_need_the_pool(no_pool, tmp_path):
    from actionlens.orchestration.preflight import preflight

    settings = Settings(home=tmp_path, warehouse="postgres")
    assert preflight(settings)["pool"]["needed"] is False


def test_a_missing_kubernetes_connection_is_named(airflow_db, tmp_path, monkeypatch):
    from actionlens.errors import ConfigurationError
    from actionlens.orchestration.preflight import preflight

    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", raising=False)
    settings = Settings(home=tmp_path, warehouse="postgres", runner="kubernetes")
    with pytest.raises(ConfigurationError) as caught:
        preflight(settings)
    assert "Airflow connection 'kubernetes_default'" in str(caught.value)
    assert "AIRFLOW_CONN_KUBERNETES_DEFAULT" in str(caught.value)


def test_a_defined_kubernetes_connection_passes(airflow_db, tmp_path, fake_kubernetes_conn):
    from actionlens.orchestration.preflight import preflight

    settings = Settings(home=tmp_path, warehouse="postgres", runner="kubernetes")
    assert preflight(settings)["connections"] == {"kubernetes_default": "found"}


def test_a_held_warehouse_is_a_warning_naming_the_holder(airflow_db, tmp_path):
    from actionlens.orchestration.preflight import preflight
    from actionlens.warehouse.backends import connect_duckdb
    from test_warehouse_snapshot import MARKER, Holder

    settings = Settings(home=tmp_path, duckdb_path=str(tmp_path / "w.duckdb"))
    connect_duckdb(tmp_path / "w.duckdb").close()
    preflight(settings, create_pool=True)
    with Holder(tmp_path / "w.duckdb") as holder:
        result = preflight(settings)
    assert result["warehouse"]["duckdb_lock"]["pid"] == holder.proc.pid
    assert MARKER in result["warehouse"]["duckdb_lock"]["command"]
    assert f"process {holder.proc.pid}" in result["warnings"][0]


@pytest.mark.integration
def test_the_command_creates_the_pool_and_is_idempotent(no_pool, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ACTIONLENS_")},
        "ACTIONLENS_HOME": str(tmp_path),
        "ACTIONLENS_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
    }
    cmd = [sys.executable, "-m", "actionlens", "preflight"]
    missing = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and f"'{WAREHOUSE_POOL}' is missing" in missing.stderr
    runs = [
        subprocess.run(
            [*cmd, "--create-pool"], env=env, capture_output=True, text=True, timeout=300
        )
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr[-2000:]
    created = [json.loads(r.stdout.strip().splitlines()[-1])["pool"]["created"] for r in runs]
    assert created == [True, False]
    assert _pool_slots() == 1


# The environments the platform builds carry the telemetry-off table.


def test_local_airflow_environment_turns_telemetry_off(tmp_path):
    from actionlens.airflow_env import airflow_environment

    env = airflow_environment(tmp_path)
    assert TELEMETRY_OFF.items() <= env.items()
    assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    # Cosmos's partial-parse cache is this home's, not shared with other homes' settings.
    assert env["AIRFLOW__COSMOS__CACHE_DIR"] == str(tmp_path / "cosmos")


def test_dbt_runs_with_telemetry_off(monkeypatch, tmp_path):
    from actionlens.warehouse import dbt

    seen = {}

    def run(cmd, env, **kwargs):
        seen.update(env)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(dbt.subprocess, "run", run)
    monkeypatch.setenv("DO_NOT_TRACK", "0")  # the platform's table wins over the caller's
    dbt.run_dbt(Settings(home=tmp_path), ["parse"])
    assert TELEMETRY_OFF.items() <= seen.items()
