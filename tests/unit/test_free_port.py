"""free_port: the ports the dev stack and the tests plan before a child binds them."""

from __future__ import annotations

import socket
from pathlib import Path

from services.devstack.process import free_port


def _ephemeral_range() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def test_free_ports_are_never_ephemeral_ones_an_outgoing_connection_can_take() -> None:
    # CI: a Kafka node died with "Address already in use" on a port planned seconds earlier.
    ephemeral = _ephemeral_range()
    ports = [free_port() for _ in range(300)]
    assert not [p for p in ports if p in ephemeral]
    assert len(set(ports)) == len(ports)


def test_a_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
