"""The benchmark's own virtual environments: the SDK peers it compares Crossdesk with, and its
tooling (the profiler), each built on first use from a pinned list in this folder.

They live in `bench/.peers/<name>/` (git-ignored) and are never Crossdesk's dependencies: a peer
runs in its own process with its environment's Python (`python -m bench.targets agents` hands
over to it), so nothing of it is ever imported next to the bot. An environment is rebuilt when
its list changes. When one cannot be built (no registry, a version gone), `PeerUnavailable`
says why and the benchmark runs without that peer.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENVIRONMENTS = HERE.parent / ".peers"


class PeerUnavailable(Exception):
    """An environment could not be built; the message says why, in a line or a few."""


@dataclass(frozen=True)
class Environment:
    """A virtual environment built from `requirements` (a pinned list in this folder)."""

    name: str
    requirements: str

    @property
    def path(self) -> Path:
        return ENVIRONMENTS / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, program: str) -> Path:
        return self.path / "bin" / program

    def _fingerprint(self) -> str:
        pins = (HERE / self.requirements).read_bytes()
        return hashlib.sha256(pins + sys.version.encode()).hexdigest()

    def ready(self) -> bool:
        marker = self.path / ".built"
        return (
            self.python.exists()
            and marker.exists()
            and marker.read_text().strip() == self._fingerprint()
        )

    def ensure(self, *, quiet: bool = False) -> Path:
        """The environment's Python, building the environment first if it is missing or
        stale (a minute or two, once); `PeerUnavailable` if it cannot be built."""
        if self.ready():
            return self.python
        if not quiet:
            print(
                f"building the benchmark's {self.name!r} environment in {self.path}"
                f" from bench/peers/{self.requirements} (once)",
                file=sys.stderr,
                flush=True,
            )
        shutil.rmtree(self.path, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(self.path)],
            [
                str(self.python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(HERE / self.requirements),
            ],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=900)
            except (OSError, subprocess.TimeoutExpired) as error:
                shutil.rmtree(self.path, ignore_errors=True)
                raise PeerUnavailable(
                    f"{self.name}: {' '.join(step[:3])} failed: {error}"
                ) from None
            if done.returncode != 0:
                shutil.rmtree(self.path, ignore_errors=True)
                lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
                errors = [line for line in lines if line.startswith("ERROR")] or lines
                raise PeerUnavailable(
                    f"{self.name}: could not build its environment from"
                    f" bench/peers/{self.requirements}: "
                    + " / ".join(
                        line if len(line) < 200 else line[:200] + " …" for line in errors[-3:]
                    )
                )
        (self.path / ".built").write_text(self._fingerprint() + "\n")
        return self.python


@dataclass(frozen=True)
class Peer:
    """A bot the benchmark compares Crossdesk with, served by `module` in `environment`."""

    kind: str
    environment: Environment
    module: str


AGENTS = Peer("agents", Environment("agents", "agents.txt"), "bench.peers.agents_echo")
TEAMS = Peer("teams", Environment("teams", "teams.txt"), "bench.peers.teams_echo")
PEERS = {peer.kind: peer for peer in (AGENTS, TEAMS)}
TOOLS = Environment("tools", "tools.txt")
