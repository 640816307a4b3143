"""Fixtures of the integration tests: the real Kafka and MongoDB, and one deployment of the
three services (as separate processes) shared by the tests that do not stop or kill them."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.infrastructure import Infrastructure, infrastructure
from tests.support.receiver import WebhookReceiver
from tests.support.stack import Stack

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder talks to the real Kafka and MongoDB (``-m "not integration"``
    leaves them out). A ``pytestmark`` in a conftest would mark nothing."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infrastructure]:
    try:
        with infrastructure() as found:
            yield found
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
async def stack(infra: Infrastructure, log_dir: Path) -> AsyncIterator[Stack]:
    deployment = Stack(infra, log_dir / "shared")
    (log_dir / "shared").mkdir()
    await deployment.start()
    yield deployment
    await deployment.close()


@pytest.fixture
async def own_stack(infra: Infrastructure, log_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """A deployment of the test's own, for tests that stop, kill or reconfigure services.
    Nothing is started: the test starts what it needs (``await own_stack.start(...)``)."""
    directory = log_dir / request.node.name[:60]
    directory.mkdir()
    overrides = getattr(request, "param", None)
    deployment = Stack(infra, directory, overrides)
    yield deployment
    await deployment.close()


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[WebhookReceiver]:
    server = WebhookReceiver()
    await server.start()
    yield server
    await server.stop()
