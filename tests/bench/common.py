"""What every benchmark shares: the machine it ran on, and a deployment to run against."""

import os
import platform
from pathlib import Path

from tests.support.infrastructure import Infrastructure
from tests.support.stack import Stack

LOGS = Path(__file__).resolve().parents[2] / ".local" / "logs" / "bench"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}"


def deployment(name: str, overrides: dict[str, str] | None = None) -> Stack:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongodb = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/orders")
    directory = LOGS / name
    directory.mkdir(parents=True, exist_ok=True)
    return Stack(Infrastructure(kafka, mongodb), directory, overrides)
