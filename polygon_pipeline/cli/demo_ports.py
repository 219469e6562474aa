"""The ports `polygon-pipeline demo` listens on, each movable by an option, all checked before
anything starts: a taken port stops the demo with one line naming it and its option, instead
of a process dying behind a banner that still advertises it."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import click

from polygon_pipeline.devnet.anvil import free_port

HOST = "127.0.0.1"  # the demo serves loopback only


@dataclass(frozen=True)
class DemoPort:
    option: str  # the `demo` option that moves it
    serves: str  # what listens there, as the user knows it
    number: int  # 0: any free port

    def resolved(self) -> int:
        """The number to listen on: a free one picked now for 0."""
        return self.number or free_port()


def is_taken(port: int, host: str = HOST) -> bool:
    """Whether something listens on (or holds) `host:port`. SO_REUSEADDR as the servers set
    it, so a port whose last connection lingers in TIME_WAIT counts as free, as it is for
    them."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def refuse_taken(ports: list[DemoPort]) -> None:
    """One line for the first fixed port that is taken: which, what needed it, how to move it."""
    for port in ports:
        if port.number and is_taken(port.number):
            raise click.ClickException(
                f"port {port.number} ({port.serves}) is taken: move it with "
                f'make demo DEMO_ARGS="{port.option} <port>" (0: any free port)'
            )
