"""The three services as separate processes (`orders serve ...`), as production runs them."""

import os
import signal
import subprocess
import sys
from pathlib import Path

SERVICES = ("ingress", "writer", "dispatcher")


class ServiceProcess:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path, label: str | None = None) -> None:
        self.name = name
        self._env = env
        self._log_path = log_dir / f"{label or name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self._log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", self.name],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
        log.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def env(self) -> dict[str, str]:
        return self._env

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 40) -> None:
        """SIGTERM, as an orchestrator stops a service: it finishes what it can."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def log(self) -> str:
        """Everything the process wrote, over all its starts."""
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def service_env(overrides: dict[str, str]) -> dict[str, str]:
    """The test's environment without the service's own settings (nor OpenTelemetry's,
    which a test that wants spans exported sets), then ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERS_", "OTEL_"))}
    return env | overrides
