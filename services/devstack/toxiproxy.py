"""Links between regions that a drill can cut or slow down: one toxiproxy proxy per directed link.

The kernel here has no netem, so delay and partitions between processes on one machine go through
a userspace proxy. toxiproxy (Go) is built from the Go module proxy by
``scripts/install-toxiproxy.sh`` into ``~/.cache/authplane/toxiproxy-VERSION`` on first use.
Each directed link (source region -> target region, ``data`` or ``controller``) gets its own
proxy, so cutting a region off is "disable every proxy that has it at either end".
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.devstack.kafka_config import KafkaNode, LinkAddress
from services.devstack.polling import until
from services.devstack.process import HOST, InfraError, ManagedProcess, free_port, spawn

INSTALLER = Path(__file__).resolve().parents[2] / "scripts" / "install-toxiproxy.sh"
KINDS = ("data", "controller")


def toxiproxy_binary() -> Path:
    """Path of ``toxiproxy-server``, built on first use (InfraError if that fails)."""
    done = subprocess.run([str(INSTALLER)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InfraError(f"installing toxiproxy failed:\n{done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Link:
    """One directed link and the proxy in front of it."""

    source: str
    target: str
    kind: str
    listen_port: int

    @property
    def name(self) -> str:
        return f"{self.source}-to-{self.target}-{self.kind}"


@dataclass
class LinkProxies:
    """A running toxiproxy server and the proxies it holds for every link between regions."""

    links: dict[tuple[str, str, str], Link]
    process: ManagedProcess | None = None
    api: str = ""
    cut_regions: set[str] = field(default_factory=set)

    def address(self) -> LinkAddress:
        """The ``LinkAddress`` the Kafka nodes and clients use: every link via its proxy."""
        return lambda source, target, kind: (
            f"{HOST}:{self.links[(source, target, kind)].listen_port}"
        )

    def start(
        self, nodes: Mapping[str, KafkaNode], base_dir: Path, *, die_with_parent: bool
    ) -> None:
        """Start the server and create one proxy per link towards the nodes' real ports."""
        port = free_port()
        self.api = f"http://{HOST}:{port}"
        self.process = spawn(
            "toxiproxy",
            [str(toxiproxy_binary()), "-host", HOST, "-port", str(port)],
            log_path=base_dir / "logs" / "toxiproxy.log",
            address=self.api,
            die_with_parent=die_with_parent,
        )
        self.process.details.update(region="", service="toxiproxy")
        self._wait_api()
        for link in self.links.values():
            node = nodes[link.target]
            upstream = (
                node.controller_port if link.kind == "controller" else node.data_ports[link.source]
            )
            body = {
                "name": link.name,
                "listen": f"{HOST}:{link.listen_port}",
                "upstream": f"{HOST}:{upstream}",
                "enabled": True,
            }
            self._call("POST", "/proxies", body)

    def cut(self, region: str) -> None:
        """Cut ``region`` off: every link from or to it stops (open connections are dropped)."""
        for link in self._touching(region):
            self._call("POST", f"/proxies/{link.name}", {"enabled": False})
        self.cut_regions.add(region)

    def heal(self, region: str) -> None:
        for link in self._touching(region):
            self._call("POST", f"/proxies/{link.name}", {"enabled": True})
        self.cut_regions.discard(region)

    def delay(self, one_way_ms: int, jitter_ms: int = 0) -> None:
        """Add ``one_way_ms`` (ms) to each direction of every link (a round trip pays twice)."""
        for link in self.links.values():
            for stream in ("upstream", "downstream"):
                body = {
                    "name": f"latency-{stream}",
                    "type": "latency",
                    "stream": stream,
                    "attributes": {"latency": one_way_ms, "jitter": jitter_ms},
                }
                self._call("POST", f"/proxies/{link.name}/toxics", body)

    def undelay(self) -> None:
        for link in self.links.values():
            for stream in ("upstream", "downstream"):
                self._call("DELETE", f"/proxies/{link.name}/toxics/latency-{stream}", None)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def _touching(self, region: str) -> list[Link]:
        return [link for link in self.links.values() if region in (link.source, link.target)]

    def _call(self, method: str, path: str, body: object) -> None:
        response = httpx.request(method, self.api + path, json=body, timeout=5.0)
        if response.status_code >= 300:
            raise InfraError(f"toxiproxy {method} {path}: {response.status_code} {response.text}")

    def _wait_api(self, within_s: float = 15.0) -> None:
        if not until(self._answers, within_s, 0.05):
            raise InfraError(f"toxiproxy did not answer at {self.api} within {within_s:.0f}s")

    def _answers(self) -> bool:
        try:
            return httpx.get(self.api + "/version", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False


def plan_links(regions: list[str]) -> LinkProxies:
    """A listen port for every directed link between distinct regions (nothing starts yet)."""
    links = {
        (source, target, kind): Link(source, target, kind, free_port())
        for source in regions
        for target in regions
        if source != target
        for kind in KINDS
    }
    return LinkProxies(links)
