"""The broker profile decides per broker kind what used to be global Tansu workarounds, and the
launcher's ``auto`` picks a broker this machine can run."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.broker import KAFKA, TANSU, broker_profile
from schemas.settings import Settings, SettingsError
from services.devstack import kafka_config, kafka_jars


def test_kafka_clients_wait_long_and_produce_idempotently() -> None:
    settings = Settings(broker_kind=KAFKA)
    assert settings.fetch_max_wait_ms == 500
    assert settings.broker.producer_options() == {"acks": "all", "enable_idempotence": True}
    assert settings.broker.exact_end_offsets


def test_tansu_clients_keep_the_short_wait_and_plain_producer() -> None:
    settings = Settings(broker_kind=TANSU)
    assert settings.fetch_max_wait_ms == 10
    assert settings.broker.producer_options() == {"acks": "all", "enable_idempotence": False}
    assert not settings.broker.exact_end_offsets


def test_an_explicit_fetch_wait_overrides_the_profile() -> None:
    assert Settings(broker_kind=KAFKA, consumer_fetch_max_wait_ms=50).fetch_max_wait_ms == 50


def test_an_unknown_broker_kind_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="AUTHPLANE_BROKER_KIND"):
        Settings.from_env({"AUTHPLANE_BROKER_KIND": "rabbitmq"})
    with pytest.raises(ValueError, match="rabbitmq"):
        broker_profile("rabbitmq")


def test_auto_picks_tansu_and_says_why_without_a_jdk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java, no mvn
    kind, why = kafka_jars.choose_broker("auto")
    assert kind == TANSU
    assert "JDK" in why


def test_asked_brokers_are_taken_as_asked_and_others_refused() -> None:
    assert kafka_jars.choose_broker("kafka")[0] == KAFKA
    assert kafka_jars.choose_broker("tansu")[0] == TANSU
    with pytest.raises(ValueError, match="tansu, kafka or auto"):
        kafka_jars.choose_broker("redpanda")


def test_topics_replicate_to_three_regions_at_most_with_two_in_sync() -> None:
    assert [kafka_config.replication_for(n) for n in (1, 2, 3, 5)] == [
        (1, 1),
        (2, 1),
        (3, 2),
        (3, 2),
    ]
