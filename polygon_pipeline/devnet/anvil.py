"""Start and stop the anvil node installed from the npm package `@foundry-rs/anvil`."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_NPM_PLATFORM = {
    ("Linux", "x86_64"): "linux-amd64",
    ("Linux", "aarch64"): "linux-arm64",
    ("Darwin", "arm64"): "darwin-arm64",
    ("Darwin", "x86_64"): "darwin-amd64",
}

# Blocks between the latest block and the `finalized` tag, unless told otherwise: what
# tests and benchmarks mine past to bury a range below the finalized head.
FINALITY_DEPTH = 16


class AnvilNotFound(RuntimeError):
    pass


def anvil_binary() -> Path:
    """The anvil binary: $POLYGON_ANVIL_BIN, else the one npm put under node_modules/."""
    override = os.environ.get("POLYGON_ANVIL_BIN")
    if override:
        return Path(override)
    suffix = _NPM_PLATFORM.get((platform.system(), platform.machine()))
    if suffix:
        for root in (Path.cwd(), PROJECT_ROOT):
            candidate = root / "node_modules" / "@foundry-rs" / f"anvil-{suffix}" / "bin" / "anvil"
            if candidate.exists():
                return candidate
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise AnvilNotFound(
        "anvil not found: run `npm ci` in the project (make install does) or set POLYGON_ANVIL_BIN"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # Linux: anvil gets SIGTERM when the devnet process dies, even by SIGKILL: no strays.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Anvil:
    """One anvil process on loopback, chain id 137, mining only when the devnet says so."""

    def __init__(
        self,
        port: int | None = None,
        chain_id: int = 137,
        log_path: Path | None = None,
        finality_depth: int = FINALITY_DEPTH,
    ):
        self.port = port or free_port()
        self.chain_id = chain_id
        self.finality_depth = finality_depth
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        import requests  # here, not above: the command line's help reads FINALITY_DEPTH

        cmd = [
            str(anvil_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--no-mining",
            "--order",
            "fifo",
            "--gas-limit",
            "300000000",
            "--block-base-fee-per-gas",
            "1000000000",
            # anvil's `finalized` block is two "epochs" below latest
            "--slots-in-an-epoch",
            str(max(1, self.finality_depth // 2)),
            "--accounts",
            "10",
            "--balance",
            "1000000",
        ]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if platform.system() == "Linux" else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"anvil exited at start with code {self.proc.returncode}")
            try:
                requests.post(
                    self.http_url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=1,
                ).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"anvil did not answer on port {self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
