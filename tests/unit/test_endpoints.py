"""Merchants' webhook endpoints: filters, secrets during a rotation, when a failing one is
switched off."""

from datetime import timedelta

import pytest

from schemas.order import OrderStatus
from schemas.storage.endpoints import EndpointSecret
from services.domain.endpoints import (
    delivery_targets,
    rotated,
    should_disable,
    signing_secrets,
    status_matches,
    unknown_statuses,
)
from services.domain.events import event_for
from tests.factories import NOW, order, webhook_endpoint

HOURS_120 = timedelta(hours=120)


@pytest.mark.parametrize(
    ("status", "filters", "matches"),
    [
        ("success.delivered", [], True),
        ("success.delivered", ["success"], True),
        ("success.delivered", ["success.delivered"], True),
        ("canceled.customer", ["canceled.merchant"], False),
        ("pending.created", ["pending.c"], False),  # a parent is a whole segment
        ("pending.picked_up", ["pending"], True),
    ],
)
def test_a_status_matches_itself_its_parent_or_an_empty_filter(status: str, filters: list[str], matches: bool) -> None:
    assert status_matches(status, filters) is matches


def test_only_known_statuses_and_parents_can_be_filtered_on() -> None:
    assert unknown_statuses(["success", "canceled.customer", "pending.pickup", "failed"]) == []
    assert unknown_statuses(["succes", "success.", "*"]) == ["succes", "success.", "*"]


def test_a_url_that_is_both_an_order_url_and_an_endpoint_is_one_target_the_endpoints() -> None:
    url = "https://a.example.com/hook"
    event = event_for(
        order(OrderStatus.CREATED, webhook_urls=[url, "https://b.example.com/x"]), "order.status.updated", None, NOW
    )
    targets = delivery_targets(
        event, [webhook_endpoint(url), webhook_endpoint("https://c.example.com/off", enabled=False)]
    )
    assert targets == {url: f"ep-{url}", "https://b.example.com/x": None}


def test_during_a_rotation_both_secrets_sign_for_24_hours_then_only_the_new_one() -> None:
    secrets = rotated([EndpointSecret(secret="old")], "new", NOW)
    assert signing_secrets(secrets, NOW + timedelta(hours=23, minutes=59)) == ["old", "new"]
    assert signing_secrets(secrets, NOW + timedelta(hours=24)) == ["new"]
    again = rotated(secrets, "newest", NOW + timedelta(hours=25))
    assert [s.secret for s in again] == ["new", "newest"]  # the expired one is gone


def test_an_endpoint_is_disabled_after_failing_for_the_whole_period_since_it_was_last_enabled() -> None:
    assert not should_disable(None, NOW, NOW + HOURS_120, HOURS_120)
    assert not should_disable(NOW, NOW, NOW + HOURS_120 - timedelta(seconds=1), HOURS_120)
    assert should_disable(NOW, NOW, NOW + HOURS_120, HOURS_120)
    enabled_again = NOW + timedelta(hours=100)
    assert not should_disable(NOW, enabled_again, NOW + HOURS_120 + timedelta(hours=1), HOURS_120)
