"""compose/: the Docker Compose deployment is complete and consistent with the settings contract.

No Docker engine runs here, so these tests check what `docker compose up` would be given: every
process gets every setting it reads, each region talks only to its own stores, and the start
order creates topics and tables before anything uses them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from schemas import topology
from schemas.settings import Settings, setting_names
from schemas.topics import replication_for
from services.devstack import kafka, kafka_config

COMPOSE_DIR = Path(__file__).parents[2] / "compose"
REGIONS = ("eu", "us")
KAFKA_RACKS = ("eu", "us", "ap")
KAFKA_NODES = tuple(f"kafka-{rack}" for rack in KAFKA_RACKS)
PYTHON_SERVICES = ("init", *(f"{role}-{r}" for r in REGIONS for role in ("login", "processor")))
# Values come from .env as plain ${NAME} (no inline defaults: .env.example is the one place they
# live); "$$" is an escaped dollar left for the container's shell.
TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$")


def _env_example() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (COMPOSE_DIR / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example line is not KEY=VALUE: {line!r}"
            out[key.strip()] = value.strip()
    return out


def _interpolate(node: Any, env: dict[str, str]) -> Any:
    """What compose does with ${NAME} and $$."""
    if isinstance(node, dict):
        return {k: _interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env) for v in node]
    if isinstance(node, str):
        return TOKEN.sub(lambda m: "$" if m.group() == "$$" else env[m.group(1)], node)
    return node


COMPOSE_TEXT = (COMPOSE_DIR / "docker-compose.yml").read_text()
RAW = yaml.safe_load(COMPOSE_TEXT)
ENV = _env_example()
RESOLVED = _interpolate(RAW, ENV)
SERVICES: dict[str, Any] = RESOLVED["services"]


def _service_env(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES[name].get("environment", {}).items()}


def _settings_of(service: str) -> Settings:
    return Settings.from_env(_service_env(service))


def test_env_example_lists_every_setting() -> None:
    text = (COMPOSE_DIR / ".env.example").read_text()
    missing = [n for n in setting_names() if not re.search(rf"\b{n}\b", text)]
    assert not missing, f"add to compose/.env.example with a comment: {missing}"


def _references() -> set[str]:
    tokens = [m for m in TOKEN.finditer(COMPOSE_TEXT) if m.group() != "$$"]
    malformed = [m.group() for m in tokens if m.group(1) is None]
    assert not malformed, "write ${NAME} (or $$ for a dollar the container's shell expands)"
    return {m.group(1) for m in tokens}


def test_every_variable_the_compose_file_references_is_defined() -> None:
    referenced = _references()
    assert referenced, "the compose file should take its values from .env"
    assert referenced <= set(ENV), f"undefined in .env.example: {referenced - set(ENV)}"


def test_every_variable_in_env_example_is_used() -> None:
    unused = set(ENV) - _references()
    assert not unused, f"defined in .env.example but never used: {unused}"


@pytest.mark.parametrize("service", PYTHON_SERVICES)
def test_python_services_get_every_setting_and_it_parses(service: str) -> None:
    env = _service_env(service)
    assert set(setting_names()) <= set(env), set(setting_names()) - set(env)
    _settings_of(service)  # raises SettingsError naming a malformed variable


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_uses_its_own_stores(region: str) -> None:
    for role in ("login", "processor"):
        settings = _settings_of(f"{role}-{region}")
        assert settings.region == region
        assert urlsplit(settings.redis_url).hostname == f"redis-{region}"
        assert urlsplit(settings.postgres_dsn).hostname == f"postgres-{region}"
        assert urlsplit(settings.postgres_dsn).path == "/authplane"
        assert settings.kafka_bootstrap == ",".join(f"{n}:9092" for n in KAFKA_NODES)


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_has_redis_postgres_login_and_processor(region: str) -> None:
    assert SERVICES[f"redis-{region}"]["image"].startswith("redis:")
    assert SERVICES[f"postgres-{region}"]["image"].startswith("postgres:")
    assert SERVICES[f"login-{region}"]["command"] == ["python", "-m", "services.login"]
    assert SERVICES[f"processor-{region}"]["command"] == ["python", "-m", "streams.worker"]


@pytest.mark.parametrize("region", REGIONS)
def test_postgres_credentials_match_the_dsn(region: str) -> None:
    dsn = urlsplit(_settings_of(f"login-{region}").postgres_dsn)
    pg_env = _service_env(f"postgres-{region}")
    assert (dsn.username, dsn.password) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"])
    assert pg_env["POSTGRES_DB"] == "authplane"


def test_kafka_is_three_kraft_nodes_without_zookeeper() -> None:
    voters = {f"{_service_env(n)['KAFKA_NODE_ID']}@{n}:9093" for n in KAFKA_NODES}
    for node in KAFKA_NODES:
        assert SERVICES[node]["image"].startswith("apache/kafka:")
        env = _service_env(node)
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
    assert "zookeeper" not in yaml.safe_dump(SERVICES).lower()  # comments may mention it


def test_every_kafka_node_advertises_an_address_the_services_use() -> None:
    bootstrap = _settings_of("login-eu").kafka_bootstrap.split(",")
    for node in KAFKA_NODES:
        advertised = _service_env(node)["KAFKA_ADVERTISED_LISTENERS"]
        assert f"PLAINTEXT://{node}:9092" in advertised.split(",")
        assert f"{node}:9092" in bootstrap


def _properties(env: dict[str, str]) -> dict[str, str]:
    """The server properties the apache/kafka image derives from KAFKA_* variables."""
    prefix = "KAFKA_"
    return {
        k[len(prefix) :].lower().replace("_", "."): v for k, v in env.items() if k[:6] == prefix
    }


def test_kafka_nodes_run_the_launchers_tested_broker_and_topic_settings() -> None:
    # The launcher's settings are the tested ones (no Docker engine here): compose must agree.
    nodes = kafka_config.plan_nodes(KAFKA_RACKS)
    launched = kafka.KafkaCluster(
        nodes,
        Path("/k"),
        Path("java"),
        Path("/jars"),
        kafka_config.direct_link(nodes),
        "x",
        Path("/l"),
    )
    for node, rack in zip(KAFKA_NODES, KAFKA_RACKS, strict=True):
        mine, theirs = _properties(_service_env(node)), launched.properties(rack)
        assert mine["broker.rack"] == theirs["broker.rack"] == rack
        assert mine["node.id"] == theirs["node.id"]
        for key in kafka_config.SHARED_SETTINGS:
            assert mine[key] == theirs[key], key
        voters = {v.split("@")[0] for v in mine["controller.quorum.voters"].split(",")}
        assert voters == {v.split("@")[0] for v in theirs["controller.quorum.voters"].split(",")}
    replication = _settings_of("login-eu").topic_replication
    assert replication == replication_for(len(KAFKA_NODES))
    assert _settings_of("login-eu").broker_kind == "kafka"


def test_init_creates_topics_then_migrates_every_region() -> None:
    script = SERVICES["init"]["command"][-1]
    lines = [line.strip() for line in script.splitlines() if line.strip()]
    assert lines[0] == "python -m schemas.topics"
    env = _service_env("init")
    migrated = []
    for line in lines[1:]:
        assert line.endswith("authplane db upgrade")
        variable = re.fullmatch(r'AUTHPLANE_POSTGRES_DSN="\$(\w+)" authplane db upgrade', line)
        assert variable, line
        migrated.append(urlsplit(env[variable.group(1)]).hostname)
    assert migrated == [f"postgres-{r}" for r in REGIONS]


@pytest.mark.parametrize("service", [s for s in PYTHON_SERVICES if s != "init"])
def test_services_start_after_init_and_healthy_stores(service: str) -> None:
    deps = SERVICES[service]["depends_on"]
    region = service.rsplit("-", 1)[1]
    assert deps["init"]["condition"] == "service_completed_successfully"
    for store in (*KAFKA_NODES, f"redis-{region}", f"postgres-{region}"):
        assert deps[store]["condition"] == "service_healthy"


def test_init_waits_for_kafka_and_every_postgres() -> None:
    deps = SERVICES["init"]["depends_on"]
    assert {*KAFKA_NODES, *(f"postgres-{r}" for r in REGIONS)} <= set(deps)
    assert SERVICES["init"]["restart"] == "no"


def test_every_awaited_health_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        for dep, rule in service.get("depends_on", {}).items():
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits on {dep}'s health"


def test_login_endpoints_are_published_on_distinct_host_ports() -> None:
    published = [SERVICES[f"login-{r}"]["ports"][0] for r in REGIONS]
    assert len({p.split(":")[0] for p in published}) == len(REGIONS)
    assert all(p.endswith(f":{_settings_of('login-eu').http_port}") for p in published)
    assert _settings_of("login-eu").http_host == "0.0.0.0"


def test_images_are_built_from_the_compose_dockerfile() -> None:
    for name in PYTHON_SERVICES:
        build = SERVICES[name]["build"]
        assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).resolve() == (
            COMPOSE_DIR / "Dockerfile"
        ).resolve()
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    assert "\nFROM python:3.11-slim\n" in dockerfile
    # The image runs the login endpoint, the stream worker and the init's CLI: their extras, and
    # not the dev stack's embedded broker and databases.
    assert '\nRUN pip install ".[login,streams,cli]"\n' in dockerfile


def test_stack_example_parses_and_matches_the_compose_deployment() -> None:
    stack = topology.load(COMPOSE_DIR / "stack.example.json")
    assert set(stack.regions) == set(REGIONS)
    assert stack.kafka_bootstrap == _settings_of("login-eu").kafka_bootstrap
    for region in REGIONS:
        settings, endpoints = _settings_of(f"login-{region}"), stack.region(region)
        assert endpoints.redis_url == settings.redis_url
        assert endpoints.postgres_dsn == settings.postgres_dsn
        assert endpoints.login_url == f"http://login-{region}:{settings.http_port}"
        metrics_port = settings.projector_metrics_port
        assert endpoints.projector_metrics_url == f"http://processor-{region}:{metrics_port}"


def test_the_stack_file_is_mounted_where_the_settings_point() -> None:
    target = _settings_of("login-eu").stack_file
    for name in PYTHON_SERVICES:
        mounts = [v for v in SERVICES[name]["volumes"] if isinstance(v, dict)]
        assert any(m["target"] == str(target) for m in mounts), name
        assert all((COMPOSE_DIR / m["source"]).is_file() for m in mounts if m["type"] == "bind")


@pytest.mark.parametrize("region", REGIONS)
def test_login_health_is_its_readiness_endpoint(region: str) -> None:
    probe = " ".join(SERVICES[f"login-{region}"]["healthcheck"]["test"])
    assert "/readyz" in probe
    assert "AUTHPLANE_HTTP_PORT" in probe
