"""Formatting a dev Kafka node's storage, with the cluster ids the launcher can draw."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from services.devstack import kafka


def test_a_cluster_id_that_starts_with_a_dash_formats(tmp_path: Path) -> None:
    # base64url ids start with "-" one time in 64; CI drew one and every Kafka test errored.
    planned = kafka.plan_cluster(["eu"], tmp_path, die_with_parent=True)
    cluster = dataclasses.replace(planned, cluster_id="-" + planned.cluster_id[1:])
    cluster.format_storage("eu")
    meta = (tmp_path / "eu" / "data" / "meta.properties").read_text()
    assert f"cluster.id={cluster.cluster_id}" in meta.splitlines()
