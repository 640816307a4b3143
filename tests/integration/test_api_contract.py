"""The API document is true: schemathesis generates requests from it (valid ones and
invalid ones, NUL characters included) for every operation, sends them to the running
ingress with a merchant's key, and every answer must be documented, conform to its
schema, headers and content type, and never be a server error.

Driven through schemathesis's Python API: its pytest loader reads ``Function._nodeid``,
which pytest 9 no longer has."""

import asyncio
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.ingress.app import create_app
from services.shared.settings import Settings
from tests.support.stack import Stack

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES = 25
"""Per operation and generation mode: 13 operations x 2 modes x 25, about 650 requests."""

DOCUMENT = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
DOCUMENT.config.generation.update(allow_x00=True)
OPERATIONS = {result.ok().label: result.ok() for result in DOCUMENT.get_all_operations() if isinstance(result, Ok)}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("label", OPERATIONS)
async def test_every_answer_is_documented_and_conforms(stack: Stack, label: str, mode: GenerationMode) -> None:
    api_key = (await stack.merchant()).api_key
    sent: list[int] = []

    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def answers_conform(case: Case[Any]) -> None:
        response = case.call_and_validate(
            base_url=stack.base_url, headers={"Authorization": f"Bearer {api_key}"}, checks=CHECKS
        )
        sent.append(response.status_code)

    await asyncio.to_thread(answers_conform)
    assert sent, "no request was sent"
    print(f"\n{label} ({mode.value}): {len(sent)} requests, statuses {sorted(set(sent))}")
