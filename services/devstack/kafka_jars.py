"""The Apache Kafka server jars and the JDK that runs them, for the dev cluster.

The jars come from Maven Central through the build file kept next to this module
(``kafka-pom.xml``) and are cached in ``~/.cache/authplane/kafka-<version>``; the first start
prints what it fetches. ``choose_broker`` decides what ``--broker auto`` runs on.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from services.devstack.process import InfraError

POM = Path(__file__).with_name("kafka-pom.xml")
MIN_JAVA = 17


def kafka_version() -> str:
    """The Kafka version pinned in the build file (``<kafka.version>``)."""
    found = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if not found:
        raise InfraError(f"{POM} names no <kafka.version>")
    return found.group(1).strip()


def cache_dir() -> Path:
    """Where the jars are kept: ``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/authplane/kafka-V``."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "authplane" / f"kafka-{kafka_version()}"


def _jars_present(directory: Path) -> bool:
    return (directory / ".complete").exists()


def find_java() -> Path | None:
    """A ``java`` of version >= 17: ``$JAVA_HOME/bin/java`` first, then ``PATH``."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    found = shutil.which("java")
    if found:
        candidates.append(Path(found))
    for java in candidates:
        if java.is_file() and java_major(java) >= MIN_JAVA:
            return java
    return None


def java_major(java: Path) -> int:
    """The major version ``java -version`` reports (0 if it cannot be read)."""
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=20, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not found:
        return 0
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def kafka_available() -> str | None:
    """None if this machine can run the dev Kafka cluster, else the reason it cannot."""
    if find_java() is None:
        return f"no JDK >= {MIN_JAVA} (JAVA_HOME or java on PATH)"
    if not _jars_present(cache_dir()) and shutil.which("mvn") is None:
        return f"Kafka jars not cached in {cache_dir()} and no mvn to fetch them"
    return None


def choose_broker(requested: str) -> tuple[str, str]:
    """``(kind, why)`` for ``--broker tansu|kafka|auto``.

    ``auto`` picks Kafka when a JDK >= 17 and the jars (or Maven to fetch them) are present,
    else Tansu; ``why`` is the sentence the launcher prints. ValueError for an unknown name.
    """
    if requested == "auto":
        missing = kafka_available()
        if missing is None:
            return (
                "kafka",
                "auto: picked Apache Kafka (a JDK >= 17 and the Kafka jars or mvn found)",
            )
        return "tansu", f"auto: picked Tansu ({missing})"
    if requested not in ("tansu", "kafka"):
        raise ValueError(f"--broker must be tansu, kafka or auto, not {requested!r}")
    return requested, f"broker: {requested} (as asked)"


def ensure_jars(say: Callable[[str], None] = print) -> Path:
    """The cached jar directory, fetched with Maven first if it is not complete yet.

    Raises InfraError if Maven is missing or fails (its output's tail is in the message).
    """
    target = cache_dir()
    if _jars_present(target):
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError(f"Kafka jars are not in {target} and mvn is not on PATH to fetch them")
    say(
        f"fetching org.apache.kafka:kafka_2.13:{kafka_version()} and its dependencies from "
        f"Maven Central into {target} (once; build file {POM})"
    )
    partial_dir = target.with_name(target.name + ".partial")
    shutil.rmtree(partial_dir, ignore_errors=True)
    argv = [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies"]
    argv += [f"-DoutputDirectory={partial_dir}", "-DincludeScope=runtime"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise InfraError(f"mvn could not fetch the Kafka jars (exit {done.returncode}):\n{tail}")
    (partial_dir / ".complete").write_text(kafka_version())
    shutil.rmtree(target, ignore_errors=True)
    partial_dir.rename(target)
    say(f"fetched {len(list(target.glob('*.jar')))} jars into {target}")
    return target
