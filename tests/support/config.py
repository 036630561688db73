"""The tests' own configuration (tests/config/desk.yaml) and ways to vary it in one test.

Tests assert its wording; config/example.yaml is the product's example and stays free to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: The configuration every test bot runs unless a test passes its own.
TEST_CONFIG = Path(__file__).resolve().parent.parent / "config" / "desk.yaml"


def desk_config() -> dict[str, Any]:
    """A fresh, freely changeable copy of the tests' configuration as plain data."""
    config: dict[str, Any] = yaml.safe_load(TEST_CONFIG.read_text())
    return config


def tenant(config: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    """The tenant `tenant_id` of a configuration given as data."""
    tenants: list[dict[str, Any]] = config["tenants"]
    for candidate in tenants:
        if candidate["id"] == tenant_id:
            return candidate
    raise KeyError(tenant_id)


def stage(config: dict[str, Any], tenant_id: str, key: str) -> dict[str, Any]:
    """The stage `key` in any pipeline of tenant `tenant_id`."""
    pipelines: dict[str, dict[str, Any]] = tenant(config, tenant_id)["pipelines"]
    for pipeline in pipelines.values():
        stages: list[dict[str, Any]] = pipeline["stages"]
        for candidate in stages:
            if candidate["key"] == key:
                return candidate
    raise KeyError((tenant_id, key))


def write_config(directory: Path, config: dict[str, Any], name: str = "crossdesk.yaml") -> Path:
    """`config` written as YAML in `directory` (templates are looked up next to it first)."""
    path = directory / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
