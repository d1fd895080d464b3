"""Keycloak's server distribution: fetched from Maven Central through ``pom.xml`` beside this
file, cached, built once for PostgreSQL, started on a database of the stack's Postgres, and
set up through the admin REST API (a realm, one confidential client, the benchmark users).

Keycloak 26.5 runs on JDK 17, 21 and 25; the newest JDK found is used (Temurin 25 where the
machine has one, else the default ``java``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from services.devstack.process import ManagedProcess, free_port, spawn

VERSION = "26.5.6"
POM = Path(__file__).parent / "pom.xml"
CACHE = Path(os.path.expanduser("~/.cache/authplane"))
REALM = "bench"
CLIENT_ID = "bench"
ADMIN = "bench-admin"
JDK_CANDIDATES = ("/usr/lib/jvm/temurin-25-jdk-amd64", "/usr/lib/jvm/java-21-openjdk-amd64")
BUILD_OPTIONS = ("--db=postgres", "--health-enabled=true")
HEAP = "-Xms512m -Xmx1g"


@dataclass(frozen=True)
class Argon2:
    """Keycloak's argon2 provider settings (memory KiB, iterations, parallelism); None = its
    built-in default for that setting."""

    memory_kib: int | None = None
    iterations: int | None = None
    parallelism: int | None = None

    def server_options(self) -> list[str]:
        """SPI options for ``kc.sh start`` (memory and parallelism are server-wide)."""
        options = []
        if self.memory_kib is not None:
            options.append(f"--spi-password-hashing--argon2--memory={self.memory_kib}")
        if self.parallelism is not None:
            options.append(f"--spi-password-hashing--argon2--parallelism={self.parallelism}")
        return options

    def password_policy(self) -> str:  # realm-level: hashIterations overrides the provider
        """The realm's password policy: argon2, with the iteration count when one is set."""
        policy = "hashAlgorithm(argon2)"
        return (
            policy if self.iterations is None else f"{policy} and hashIterations({self.iterations})"
        )


def home(version: str = VERSION) -> Path:
    return CACHE / f"keycloak-{version}"


def java_home() -> Path | None:
    """The newest JDK we know Keycloak runs on, or None for the default ``java`` on PATH."""
    for candidate in JDK_CANDIDATES:
        if (Path(candidate) / "bin" / "java").exists():
            return Path(candidate)
    return None


def fetch(version: str = VERSION) -> Path:
    """Download (Maven's cache, ~165 MB once) and unpack the distribution; returns its home.
    Prints what it fetches. CalledProcessError if Maven fails."""
    target = home(version)
    if (target / "bin" / "kc.sh").exists():
        print(f"   Keycloak {version}: cached in {target}")
        return target
    print(
        f"   fetching org.keycloak:keycloak-quarkus-dist:{version}:zip from Maven Central "
        f"with `mvn -f {POM.name} dependency:unpack` into {CACHE} (once; cached afterwards)"
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            f"-Dkeycloak.version={version}",
            f"-Dkeycloak.dir={CACHE}",
            "dependency:unpack",
        ],
        check=True,
    )
    return target


def _env(admin_password: str) -> dict[str, str]:
    env = {**os.environ, "JAVA_OPTS_KC_HEAP": HEAP}
    jdk = java_home()
    if jdk is not None:
        env["JAVA_HOME"] = str(jdk)
    env["KC_BOOTSTRAP_ADMIN_USERNAME"] = ADMIN
    env["KC_BOOTSTRAP_ADMIN_PASSWORD"] = admin_password
    return env


def build_fingerprint(kc_home: Path) -> str:
    """What the last ``kc.sh build`` left: the build options plus the size and mtime (ns) of the
    augmented application file it rewrites. A distribution unpacked again over the cache (which
    restores that file) no longer matches, so the build is redone ("" if the file is absent)."""
    app = kc_home / "lib" / "quarkus" / "quarkus-application.dat"
    if not app.exists():
        return ""
    stat = app.stat()
    return f"{' '.join(BUILD_OPTIONS)}|{stat.st_size}|{stat.st_mtime_ns}"


def build(kc_home: Path) -> None:
    """``kc.sh build`` once for PostgreSQL; a marker file remembers ``build_fingerprint``, so a
    re-unpacked distribution (whose ``--optimized`` start would refuse to run) is built again.
    CalledProcessError if the build fails."""
    marker = kc_home / ".authplane-build"
    if marker.exists() and marker.read_text() == build_fingerprint(kc_home):
        return
    print("   building Keycloak for PostgreSQL (kc.sh build, once)")
    subprocess.run(
        [str(kc_home / "bin" / "kc.sh"), "build", *BUILD_OPTIONS],
        env=_env("unused"),
        check=True,
        capture_output=True,
    )
    marker.write_text(build_fingerprint(kc_home))


@dataclass
class Keycloak:
    """A running Keycloak: its URL, the JVM's PID, and the admin and client credentials."""

    process: ManagedProcess
    url: str
    admin_password: str
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def jvm_pid(self) -> int:
        """The java process (kc.sh runs it as its child)."""
        for child in psutil.Process(self.process.pid).children(recursive=True):
            if child.name() == "java":
                return int(child.pid)
        raise RuntimeError("Keycloak's JVM is not running")

    def token_path(self, realm: str = REALM) -> str:
        return f"/realms/{realm}/protocol/openid-connect/token"

    def introspect_path(self, realm: str = REALM) -> str:
        return f"{self.token_path(realm)}/introspect"

    def logout_path(self, realm: str = REALM) -> str:
        return f"/realms/{realm}/protocol/openid-connect/logout"

    def stop(self) -> None:
        self.process.stop(30.0)


def start(
    kc_home: Path,
    jdbc_url: str,
    log_dir: Path,
    argon2: Argon2,
    admin_password: str,
    timeout_s: float = 300.0,
) -> Keycloak:
    """Start ``kc.sh start --optimized`` (production mode, plain HTTP on loopback) and wait
    until it answers; RuntimeError with its log tail if it dies or times out.
    ``admin_password`` creates the bootstrap admin on the first start on a database; later
    starts on the same database must pass the same one (the admin already exists)."""
    port, management = free_port(), free_port()
    argv = [
        str(kc_home / "bin" / "kc.sh"),
        "start",
        "--optimized",
        "--http-enabled=true",
        "--http-host=127.0.0.1",
        f"--http-port={port}",
        f"--http-management-port={management}",
        "--hostname-strict=false",
        f"--db-url={jdbc_url}",
        "--db-username=postgres",
        "--db-password=unused-trust-auth",
        *argon2.server_options(),
    ]
    proc = spawn("keycloak", argv, log_path=log_dir / "keycloak.log", env=_env(admin_password))
    keycloak = Keycloak(proc, f"http://127.0.0.1:{port}", admin_password)
    try:
        _wait_ready(keycloak, f"http://127.0.0.1:{management}/health/ready", timeout_s)
    except BaseException:
        keycloak.stop()
        raise
    return keycloak


def _wait_ready(keycloak: Keycloak, health_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if not keycloak.process.alive():
                raise RuntimeError(f"Keycloak exited:\n{keycloak.process.log_tail(40)}")
            try:
                if client.get(health_url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
    raise RuntimeError(f"Keycloak not ready in {timeout_s} s:\n{keycloak.process.log_tail(40)}")
