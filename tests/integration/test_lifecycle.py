"""Lifecycle and returns through the real stack: HTTP calls, commands on order.commands,
re-delivery, a ship/cancel race, and the webhooks a merchant receives for a whole walk."""

import asyncio
import functools
import uuid
from collections.abc import Callable
from typing import Any

from standardwebhooks.webhooks import Webhook

from schemas.commands import ConfirmOrder, OrderCommand, ShipOrder
from tests.support.commands import command_fields
from tests.support.orders import deliver, new_order, step
from tests.support.receiver import WebhookReceiver
from tests.support.stack import Stack, eventually


async def test_lifecycle_over_http(stack: Stack) -> None:
    merchant = await stack.merchant()
    order_id = await new_order(stack, merchant)
    async with stack.client(merchant.api_key) as api:
        response = await api.post(f"/orders/{order_id}/confirm")
        assert response.json() == {"id": order_id}
    confirmed = await stack.order(merchant.api_key, order_id, lambda o: o["status"] == "pending.confirmed")
    assert confirmed["version"] == 2
    shipped = await step(
        stack,
        merchant,
        f"/orders/{order_id}/ship",
        "pending.shipped",
        {"trackingReference": "TR-9", "trackingURL": "https://track.example.com/TR-9"},
    )
    assert shipped["delivery"]["trackingReference"] == "TR-9"
    assert shipped["delivery"]["trackingURL"] == "https://track.example.com/TR-9"
    assert shipped["deliveredAt"] is None
    delivered = await step(stack, merchant, f"/orders/{order_id}/deliver", "success.delivered")
    assert delivered["deliveredAt"] is not None
    assert delivered["version"] == 4
    assert delivered["updatedAt"] >= shipped["updatedAt"]


async def test_cancel(stack: Stack) -> None:
    merchant = await stack.merchant()
    order_id = await new_order(stack, merchant)
    canceled = await step(stack, merchant, f"/orders/{order_id}/cancel", "canceled.customer", {"reason": "customer"})
    assert canceled["version"] == 2


async def test_ingress_refuses_what_it_can_tell(stack: Stack) -> None:
    merchant = await stack.merchant()
    order_id = await new_order(stack, merchant)
    async with stack.client(merchant.api_key) as api:
        cases = [
            (api.post(f"/orders/{order_id}/deliver"), 409),
            (api.post(f"/orders/{order_id}/ship", json={}), 409),
            (api.post(f"/orders/{order_id}/ship", json={"trackingURL": "not a url"}), 422),
            (api.post(f"/orders/{order_id}/ship", json={"carrier": "x"}), 422),
            (api.post(f"/orders/{order_id}/cancel", json={"reason": "bored"}), 422),
            (api.post(f"/orders/{order_id}/cancel"), 422),
            (api.post(f"/orders/{uuid.uuid4()}/confirm"), 404),
            (
                api.post(
                    f"/orders/{order_id}/returns",
                    json={"products": [{"id": "prod-1", "quantity": 1, "reason": "changed_mind"}]},
                ),
                409,
            ),
            (api.post(f"/orders/{order_id}/returns/{uuid.uuid4()}/pickup"), 404),
        ]
        for call, status in cases:
            response = await call
            assert response.status_code == status, response.text
            assert response.headers["content-type"] == "application/problem+json"
    # Commands of one order are applied in order. Once a later, valid one is applied, any
    # the refused requests had published would have been taken before it: none was.
    await step(stack, merchant, f"/orders/{order_id}/confirm", "pending.confirmed")
    taken = await stack.db.command_log.find({"orderId": order_id, "type": {"$ne": "order.create"}}).to_list()
    assert [(c["type"], c["outcome"]) for c in taken] == [("order.confirm", "applied")]
    assert (await stack.order(merchant.api_key, order_id))["version"] == 2


async def send(stack: Stack, command: OrderCommand) -> None:
    await stack.publish(stack.settings.topics.order_commands, command, command.order_id)


async def test_commands_from_other_services_on_order_commands(stack: Stack) -> None:
    merchant = await stack.merchant()
    order_id = await new_order(stack, merchant)
    await send(stack, ConfirmOrder(**command_fields(merchant.merchant_id, order_id)))
    await stack.order(merchant.api_key, order_id, lambda o: o["status"] == "pending.confirmed")
    await send(stack, ShipOrder(**command_fields(merchant.merchant_id, order_id), tracking_reference="X"))
    shipped = await stack.order(merchant.api_key, order_id, lambda o: o["status"] == "pending.shipped")
    assert shipped["delivery"]["trackingReference"] == "X"


async def test_a_redelivered_command_changes_nothing_twice(stack: Stack) -> None:
    merchant = await stack.merchant()
    order_id = await new_order(stack, merchant)
    command = ConfirmOrder(**command_fields(merchant.merchant_id, order_id))
    for _ in range(3):
        await send(stack, command)
    await send(stack, ShipOrder(**command_fields(merchant.merchant_id, order_id), tracking_reference="after"))
    shipped = await stack.order(merchant.api_key, order_id, lambda o: o["status"] == "pending.shipped")
    assert shipped["version"] == 3  # created, confirmed once, shipped
    log = await stack.db.command_log.find_one({"_id": command.command_id})
    assert log is not None
    assert log["outcome"] == "applied"


async def settled_outcomes(stack: Stack, criteria: dict[str, Any], expected: int) -> list[str] | None:
    """The recorded outcomes of the commands ``criteria`` selects from the command log, once
    all ``expected`` of them have one (a command not yet taken has no entry; one taken says
    "taken" until the writer records what became of it)."""
    outcomes = [str(d["outcome"]) async for d in stack.db.command_log.find(criteria)]
    return outcomes if len(outcomes) == expected and "taken" not in outcomes else None


async def test_a_command_for_another_merchants_order_is_refused_and_recorded(stack: Stack) -> None:
    merchant, other = await stack.merchant(), await stack.merchant()
    order_id = await new_order(stack, merchant)
    command = ConfirmOrder(**command_fields(other.merchant_id, order_id))
    await send(stack, command)
    assert await eventually(functools.partial(settled_outcomes, stack, {"_id": command.command_id}, 1)) == ["refused"]
    assert (await stack.order(merchant.api_key, order_id))["status"] == "pending.created"


async def test_ship_and_cancel_racing_end_in_one_valid_state(stack: Stack) -> None:
    merchant = await stack.merchant()
    orders = [await new_order(stack, merchant) for _ in range(6)]
    for order_id in orders:
        await step(stack, merchant, f"/orders/{order_id}/confirm", "pending.confirmed")
    async with stack.client(merchant.api_key) as ship_api, stack.client(merchant.api_key) as cancel_api:
        responses = await asyncio.gather(
            *(ship_api.post(f"/orders/{o}/ship", json={"trackingReference": "R"}) for o in orders),
            *(cancel_api.post(f"/orders/{o}/cancel", json={"reason": "merchant"}) for o in orders),
        )
    assert {r.status_code for r in responses} <= {202, 409}
    for order_id in orders:
        accepted_at_ingress = sum(1 for r in responses if r.status_code == 202 and r.url.path.split("/")[2] == order_id)
        ship_or_cancel = {"orderId": order_id, "type": {"$in": ["order.ship", "order.cancel"]}}
        outcomes = await eventually(functools.partial(settled_outcomes, stack, ship_or_cancel, accepted_at_ingress))
        assert sorted(outcomes) == sorted(["applied"] + ["refused"] * (accepted_at_ingress - 1))
        final = await stack.order(merchant.api_key, order_id)  # every accepted command has its outcome
        assert final["status"] in ("pending.shipped", "canceled.merchant")
        assert final["version"] == 3


async def test_returns(stack: Stack) -> None:
    merchant = await stack.merchant()
    order_id = await new_order(stack, merchant)
    await deliver(stack, merchant, order_id)
    path = f"/orders/{order_id}/returns"
    async with stack.client(merchant.api_key) as api:
        for products, field in (
            ([{"id": "prod-1", "quantity": 3, "reason": "changed_mind"}], "products[0].quantity"),
            ([{"id": "nope", "quantity": 1, "reason": "changed_mind"}], "products[0].id"),
            ([{"id": "prod-1", "quantity": 1, "reason": "because"}], "products[0].reason"),
        ):
            refused = await api.post(path, json={"products": products})
            assert refused.status_code == 422, refused.text
            assert refused.json()["errors"][0]["field"] == field
        assert (await api.post(path, json={"products": []})).status_code == 422

        first = await api.post(path, json={"products": [{"id": "prod-1", "quantity": 1, "reason": "changed_mind"}]})
        assert first.status_code == 202
        first_id = first.json()["id"]
        order = await stack.order(merchant.api_key, order_id, lambda o: len(o["returns"]["returns"]) == 1)
        [opened] = order["returns"]["returns"]
        assert (opened["id"], opened["status"], opened["pickedUpAt"]) == (first_id, "pending.pickup", None)
        assert opened["products"][0]["quantity"] == 1
        assert opened["products"][0]["reason"] == "changed_mind"
        quantities = {p["id"]: p["returnableQuantity"] for p in order["returns"]["returnableProducts"]}
        assert quantities == {"prod-1": 1, "prod-2": 1}

        second = await api.post(path, json={"products": [{"id": "prod-1", "quantity": 1, "reason": "stopped_working"}]})
        assert second.status_code == 202
        second_id = second.json()["id"]
        await stack.order(merchant.api_key, order_id, lambda o: len(o["returns"]["returns"]) == 2)
        too_many = await api.post(path, json={"products": [{"id": "prod-1", "quantity": 1, "reason": "changed_mind"}]})
        assert too_many.status_code == 422

        assert (await api.post(f"{path}/{first_id}/succeed")).status_code == 409
        for action, status in (("pickup", "pending.picked_up"), ("succeed", "success.refunded")):
            assert (await api.post(f"{path}/{first_id}/{action}")).status_code == 202
            await stack.order(merchant.api_key, order_id, _return_status_is(first_id, status))
        assert (await api.post(f"{path}/{second_id}/reject")).status_code == 202
        order = await stack.order(
            merchant.api_key, order_id, lambda o: _return(o, second_id)["status"] == "canceled.rejected"
        )
    refunded = _return(order, first_id)
    assert refunded["pickedUpAt"] is not None
    assert refunded["succeededAt"] is not None
    assert _return(order, second_id)["succeededAt"] is None
    assert {p["id"]: p["returnableQuantity"] for p in order["returns"]["returnableProducts"]} == {
        "prod-1": 1,
        "prod-2": 1,
    }
    assert order["status"] == "success.delivered"
    assert order["version"] == 9  # 4 lifecycle versions + 2 opened + pickup + succeed + reject


def _return_status_is(return_id: str, status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda order: _return(order, return_id)["status"] == status


def _return(order: dict[str, Any], return_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in order["returns"]["returns"] if r["id"] == return_id)
    return found


async def test_the_merchant_receives_every_change_as_a_webhook(stack: Stack, receiver: WebhookReceiver) -> None:
    merchant = await stack.merchant()
    hook = receiver.url("ok", uuid.uuid4().hex)
    meta = {"internal_user_id": 7, "source": "lifecycle-test"}
    order_id = await new_order(stack, merchant, webhookUrls=[hook], meta=meta)
    await deliver(stack, merchant, order_id)
    async with stack.client(merchant.api_key) as api:
        opened = await api.post(
            f"/orders/{order_id}/returns",
            json={"products": [{"id": "prod-2", "quantity": 1, "reason": "changed_mind"}]},
        )
        return_id = opened.json()["id"]
        await stack.order(merchant.api_key, order_id, lambda o: len(o["returns"]["returns"]) == 1)
        await api.post(f"/orders/{order_id}/returns/{return_id}/pickup")
        await stack.order(merchant.api_key, order_id, lambda o: _return(o, return_id)["status"] == "pending.picked_up")
        await api.post(f"/orders/{order_id}/returns/{return_id}/succeed")

    received = await receiver.wait_for(hook, count=7)
    by_id = {r.headers["webhook-id"]: r for r in received}  # at least once: dedupe on webhook-id
    for webhook in by_id.values():
        Webhook(merchant.webhook_secret).verify(webhook.body, webhook.headers)
        assert webhook.json["meta"] == meta
    payloads = sorted((r.json for r in by_id.values()), key=_version)
    assert [(p["event"], _version(p), _status(p)) for p in payloads] == [
        ("order.status.updated", 1, "pending.created"),
        ("order.status.updated", 2, "pending.confirmed"),
        ("order.status.updated", 3, "pending.shipped"),
        ("order.status.updated", 4, "success.delivered"),
        ("returns.status.updated", 5, "pending.pickup"),
        ("returns.status.updated", 6, "pending.picked_up"),
        ("returns.status.updated", 7, "success.refunded"),
    ]
    assert all(p["orderId"] == order_id for p in payloads if p["event"] == "returns.status.updated")


def _version(payload: dict[str, Any]) -> int:
    return int(payload["order"]["version"] if payload["event"] == "order.status.updated" else payload["version"])


def _status(payload: dict[str, Any]) -> str:
    return str(
        payload["order"]["status"] if payload["event"] == "order.status.updated" else payload["refund"]["status"]
    )
