"""The emergency login channel on Apache Kafka (one KRaft node): the idempotent producer a
Kafka region uses (``schemas.broker``) recovers after the node was unreachable, and the relay
forwards what waited in the outbox. The node is frozen (SIGSTOP) as in
tests/integration/test_emergency_channel.py; about a minute, most of it the node's start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.broker import KAFKA
from schemas.events import LoginFailed, SessionStarted
from services.devstack.kafka import KafkaCluster
from tests.integration.login_harness import login_settings, running_login, set_heartbeat
from tests.integration.login_seeding import seed_user_redis
from tests.integration.refresh_harness import PASSWORD, projected_region
from tests.integration.test_emergency_channel import (
    USER,
    _archived,
    _drained,
    _outbox,
    _password_login,
    log_cut,
)
from tests.kafka_support import start_test_cluster


@pytest.fixture(scope="module")
def kafka_one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    cluster = start_test_cluster(["eu"], tmp_path_factory.mktemp("kafka-channel"))
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_on_kafka_logins_while_the_node_is_frozen_are_forwarded_once_it_answers(
    kafka_one: KafkaCluster, tmp_path: Path, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    settings = login_settings(
        tmp_path,
        kafka_one.bootstrap("eu"),
        fresh_redis_url,
        fresh_postgres_dsn,
        broker_kind=KAFKA,
    )
    node = kafka_one.nodes["eu"].process
    assert node is not None
    async with running_login(settings) as login:
        await seed_user_redis(settings, USER, PASSWORD)
        await set_heartbeat(fresh_redis_url, settings.region)
        async with projected_region(login, fresh_redis_url, fresh_postgres_dsn) as region:
            with log_cut(node):
                assert (await _password_login(region, password="wrong")).status_code == 400
                assert (await _password_login(region)).status_code == 200
                pending = await _outbox(region)
                assert [kind for _, kind in pending] == [LoginFailed.TYPE, SessionStarted.TYPE]
            await _drained(region)
            ids = [event_id for event_id, _ in pending]
            assert await _archived(region, ids) == dict.fromkeys(ids, 1)
            assert (await _password_login(region)).status_code == 200
            assert await _outbox(region) == []
