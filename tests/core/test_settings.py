"""The one settings object: defaults, environment, YAML file, validation."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from actionlens.settings import Settings


def test_defaults_are_the_embedded_default():
    s = Settings()
    assert s.mongo_uri is None and s.runner == "local" and s.warehouse == "duckdb"
    assert s.bucket_uri().endswith("var/bucket")


def test_environment_overrides_nested_fields(monkeypatch):
    monkeypatch.setenv("ACTIONLENS_RUNNER", "kubernetes")
    monkeypatch.setenv("ACTIONLENS_ACQUIRE__BUDGET", "7")
    monkeypatch.setenv("ACTIONLENS_ACQUIRE__CATEGORIES", '["Food and Entertaining"]')
    monkeypatch.setenv("ACTIONLENS_PODS__GPU_NODE_SELECTOR", '{"pool": "l4"}')
    s = Settings()
    assert s.runner == "kubernetes" and s.acquire.budget == 7
    assert s.acquire.categories == ["Food and Entertaining"]
    assert s.pods.gpu_node_selector == {"pool": "l4"}


def test_yaml_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    path = tmp_path / "actionlens.yaml"
    path.write_text("bucket: gs://prod-clips\nacquire:\n  budget: 1000\n  max_rank: 50\n")
    monkeypatch.setenv("ACTIONLENS_CONFIG", str(path))
    monkeypatch.setenv("ACTIONLENS_ACQUIRE__BUDGET", "5")
    s = Settings()
    assert s.bucket == "gs://prod-clips" and s.bucket_uri() == "gs://prod-clips"
    assert s.acquire.budget == 5 and s.acquire.max_rank == 50


def test_missing_settings_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONLENS_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        Settings()


def test_bad_values_are_rejected_with_the_field_name(monkeypatch):
    monkeypatch.setenv("ACTIONLENS_RUNNER", "docker")
    with pytest.raises(ValidationError, match="runner"):
        Settings()


def test_url_template_must_carry_the_video_id():
    with pytest.raises(ValidationError, match="url_template"):
        Settings(acquire={"url_template": "https://example.invalid/watch"})


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError):
        Settings(mongo_url="mongodb://x")


def test_workshop_sources_must_be_distinct_opinion_sources():
    with pytest.raises(ValidationError, match="agreement.molmo_source 'llava'"):
        Settings(agreement={"molmo_source": "llava"})
    with pytest.raises(ValidationError, match="must differ"):
        Settings(agreement={"molmo_source": "qwen3vl"})
    with pytest.raises(ValidationError, match="workshop_field"):
        Settings(agreement={"workshop_field": "summary"})
    swapped = Settings(agreement={"qwen_source": "molmo2", "molmo_source": "qwen3vl"})
    from actionlens.warehouse.dbt import dbt_vars

    assert dbt_vars(swapped) | {"raw_schema": None} == {
        "raw_schema": None,
        "reference_source": "gpt",
        "opinion_sources": ["qwen3vl", "molmo2"],
        "qwen_source": "molmo2",
        "molmo_source": "qwen3vl",
        "workshop_field": "summary_detailed",
    }


def test_moved_settings_keep_their_old_names(tmp_path, monkeypatch):
    """FiftyOne, dashboard and warehouse schema settings left `agreement` for sections of
    their own; the old names (README's table) still work in each source, and the order of
    sources still decides: an old-named variable beats the file's new name."""
    path = tmp_path / "actionlens.yaml"
    path.write_text(
        "agreement:\n  fiftyone_dataset: from-file\n  raw_schema: raw_file\n"
        "dashboard:\n  url: http://file/confidence/\n"
    )
    monkeypatch.setenv("ACTIONLENS_CONFIG", str(path))
    monkeypatch.setenv("ACTIONLENS_AGREEMENT__FIFTYONE_APP_URL", "http://env:5151")
    monkeypatch.setenv("ACTIONLENS_AGREEMENT__DASHBOARD_URL", "http://env/confidence/")
    s = Settings()
    assert s.fiftyone.dataset == "from-file" and s.warehouse_schemas.raw == "raw_file"
    assert s.fiftyone.app_url == "http://env:5151"
    assert s.dashboard.url == "http://env/confidence/"
    assert not hasattr(s.agreement, "fiftyone_dataset")
    made = Settings(agreement={"fiftyone_dataset": "by-argument", "videos_per_batch": 3})
    assert made.fiftyone.dataset == "by-argument" and made.agreement.videos_per_batch == 3
    from actionlens.settings import environment_for

    for name in [n for n in os.environ if n.startswith("ACTIONLENS_")]:
        monkeypatch.delenv(name)
    for name, value in environment_for(s).items():
        monkeypatch.setenv(name, value)
    again = Settings()
    assert (again.fiftyone, again.dashboard, again.warehouse_schemas) == (
        s.fiftyone,
        s.dashboard,
        s.warehouse_schemas,
    )


def test_one_source_giving_a_setting_both_names_is_refused():
    with pytest.raises(ValueError, match=r"agreement.raw_schema .* warehouse_schemas.raw"):
        Settings(agreement={"raw_schema": "a"}, warehouse_schemas={"raw": "b"})
    same = Settings(agreement={"raw_schema": "a"}, warehouse_schemas={"raw": "a"})
    assert same.warehouse_schemas.raw == "a"


def test_marts_schema_is_one_setting_dbt_and_the_readers_follow(tmp_path):
    from actionlens.warehouse.dbt import dbt_env, dbt_vars

    s = Settings(warehouse_schemas={"raw": "r1", "marts": "m1"})
    assert dbt_env(s)["DBT_SCHEMA"] == "m1" and dbt_vars(s)["raw_schema"] == "r1"
    assert dbt_env(Settings())["DBT_SCHEMA"] == Settings().warehouse_schemas.marts
    with pytest.raises(ValidationError, match="warehouse_schemas.raw and warehouse_schemas.marts"):
        Settings(warehouse_schemas={"marts": "raw"})


def test_the_marts_schema_literal_is_written_once():
    """The marts schema's name is the setting's default and nowhere else in the product
    (package, DAGs, plugins, dbt project): everything else reads the setting."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    default = Settings().warehouse_schemas.marts
    found = []
    for folder, patterns in (
        ("include", ("*.py",)),
        ("dags", ("*.py",)),
        ("plugins", ("*.py",)),
        ("dbt", ("*.yml", "*.sql")),
    ):
        for pattern in patterns:
            for path in (repo / folder).rglob(pattern):
                if {"target", "logs", "dbt_packages"} & set(path.relative_to(repo).parts):
                    continue
                for no, line in enumerate(path.read_text().splitlines(), 1):
                    if default in line:
                        found.append(f"{path.relative_to(repo)}:{no}")
    assert len(found) == 1 and found[0].startswith("include/actionlens/settings.py"), found
