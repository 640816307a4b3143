"""Reading a process's /metrics in tests and benchmarks."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = list[tuple[str, dict[str, str], float]]


async def metrics(url: str) -> tuple[str, Samples]:
    """A process's exposition, as text and as (name, labels, value) samples."""
    async with httpx.AsyncClient() as client:
        response = await client.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for n, found, v in samples if n == name and labels.items() <= found.items())
