"""The one settings object: defaults, environment, YAML file, validation."""

from __future__ import annotations

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
