"""Helpers for whole-chain tests: a `gridscout run` subprocess with a config, and what it leaves behind."""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import zmq

from gridscout.edge.runtime.bus import Endpoints, Subscriber
from gridscout.edge.runtime.messages import TOPICS
from gridscout.edge.runtime.ports import free_port_block

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def write_config(path: Path, sections: dict[str, dict[str, object]]) -> Path:
    lines = []
    for name, keys in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in keys.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class Chain:
    """`gridscout run --config` in a subprocess, observable over a tcp bus."""

    def __init__(self, tmp: Path, *, source: str, mode: str = "live", extra: dict | None = None) -> None:
        self.data = tmp / "data"
        self.bus_port = free_port_block(16)
        self.api_port = self.bus_port + len(TOPICS)  # inside the block, past the topics: never another's port
        sections: dict[str, dict[str, object]] = {
            "run": {"source": source, "mode": mode, "data_dir": str(self.data), "device_id": "test-box"},
            "bus": {"transport": "tcp", "tcp_base_port": self.bus_port},
            "api": {"port": self.api_port, "token": "test-token"},
        }
        for name, keys in (extra or {}).items():
            sections.setdefault(name, {}).update(keys)
        config = write_config(tmp / "gridscout.toml", sections)
        self.stdout_path, self.stderr_path = tmp / "run.out", tmp / "run.err"
        self.summary_path = tmp / "summary.json"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gridscout.edge.cli",
                "run",
                "--config",
                str(config),
                "--summary-json",
                str(self.summary_path),
            ],
            cwd=tmp,
            stdout=open(self.stdout_path, "wb"),  # noqa: SIM115 - closed with the process
            stderr=open(self.stderr_path, "wb"),  # noqa: SIM115
        )
        self.endpoints = Endpoints("tcp", tcp_base_port=self.bus_port)
        self.ctx = zmq.Context()

    def subscribe(self, topics: list[str]) -> Subscriber:
        return Subscriber(self.ctx, self.endpoints, topics, hwm=10000)

    def pid_of(self, process: str, timeout_s: float = 30.0) -> int:
        """The pid of the chain process running `edge.daemons.<process>d`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                try:
                    if (
                        f"gridscout.edge.daemons.{process}d" in child.cmdline()
                        and child.status() != psutil.STATUS_ZOMBIE
                    ):
                        return child.pid
                except psutil.NoSuchProcess:
                    continue
            time.sleep(0.1)
        raise AssertionError(f"no {process} process found")

    def sim_log(self) -> list[dict]:
        path = self.data / "logs" / "crawler-sim.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def commands(self) -> list[dict]:
        return [e for e in self.sim_log() if e["event"] == "command"]

    def wait_for(self, predicate, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"run exited ({self.proc.returncode}) before {what}:\n{self.stderr()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.stderr()[-3000:]}")

    def moving(self, min_speed: float = 0.3) -> bool:
        cmds = self.commands()
        return bool(cmds) and cmds[-1]["type"] == "set_speed" and cmds[-1]["speed_mps"] >= min_speed

    def wait(self, timeout_s: float = 180.0) -> int:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(20)
            raise AssertionError(f"run did not finish in {timeout_s} s:\n{self.stderr()[-3000:]}") from None

    def summary(self) -> dict:
        """The run's summary as `--summary-json` wrote it (after the run ended)."""
        return json.loads(self.summary_path.read_text())

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.ctx.destroy(linger=0)


class StandaloneSim:
    """`python -m gridscout.hardware.sim.crawler FLAGS` on its own pty: a crawler a test drives through
    `--vehicle crawler:<url>`, misbehaving as its flags say (--mute, --refuse, --no-ack, ...)."""

    _made = itertools.count()

    def __init__(self, tmp: Path, *flags: str) -> None:
        n = next(self._made)
        self.log = tmp / f"standalone-crawler-{n}.jsonl"
        self._stderr = open(tmp / f"standalone-crawler-{n}.stderr", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridscout.hardware.sim.crawler", "--log", str(self.log), *flags],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url, "the simulator printed no pty path"

    @property
    def uri(self) -> str:
        return f"crawler:{self.url}"

    def events(self, name: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        records = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [r for r in records if name is None or r["event"] == name]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._stderr.close()
