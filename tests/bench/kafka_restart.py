"""Kafka crashes while orders are being created: SIGKILL the broker that `make services`
started, restart it with `deploy/services.sh start`, and check that every order answered
200 is stored and announced by webhook, and that no order exists for a 503.

    make chaos        (restarts the project's Kafka; never part of `make test`)
"""

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from schemas.checkout import CheckoutStatus
from tests.support.demo import demo_checkout
from tests.support.receiver import WebhookReceiver
from tests.support.stack import eventually

from .common import deployment, machine

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 40
KILL_AFTER = 8
DOWN_FOR = 6


async def restart_kafka() -> None:
    await asyncio.sleep(KILL_AFTER)
    pid = int((ROOT / ".local" / "pids" / "kafka.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    print(f"Kafka (pid {pid}) killed with SIGKILL", flush=True)
    await asyncio.sleep(DOWN_FOR)
    started = time.monotonic()
    await asyncio.to_thread(
        subprocess.run, [str(ROOT / "deploy" / "services.sh"), "start"], check=True, capture_output=True
    )
    print(
        f"Kafka restarted after {DOWN_FOR}s down; it answered {time.monotonic() - started:.1f}s after the start",
        flush=True,
    )


async def main() -> None:
    receiver = WebhookReceiver()
    await receiver.start()
    stack = deployment("kafka-restart")
    await stack.start()
    try:
        print(f"machine: {machine()}")
        merchant = await stack.merchant()
        checkouts = [
            demo_checkout(merchant.merchant_id, str(uuid.uuid4()), CheckoutStatus.PAID, 1).checkout for _ in range(4000)
        ]
        await stack.db.checkouts.insert_many(
            [{"_id": c.id, "checkout": c.model_dump(mode="python"), "version": 1} for c in checkouts]
        )
        hook = receiver.url("ok", "kafka-restart")
        answers: dict[str, tuple[int, str | None]] = {}
        remaining = iter(checkouts)
        deadline = time.monotonic() + SECONDS
        async with httpx.AsyncClient(
            base_url=stack.base_url, headers={"Authorization": f"Bearer {merchant.api_key}"}, timeout=30
        ) as api:

            async def client() -> None:
                for checkout in remaining:
                    if time.monotonic() > deadline:
                        return
                    response = await api.post("/orders", json={"checkoutId": checkout.id, "webhookUrls": [hook]})
                    answers[checkout.id] = (response.status_code, response.json().get("id"))
                    await asyncio.sleep(0.02)

            await asyncio.gather(restart_kafka(), *(client() for _ in range(4)))

        accepted = {order_id for status, order_id in answers.values() if status == 200 and order_id}
        refused = [checkout_id for checkout_id, (status, _) in answers.items() if status == 503]
        print(
            f"answers: {len(accepted)} x 200, {len(refused)} x 503, {len(answers) - len(accepted) - len(refused)} other"
        )

        async def stored() -> int:
            return await stack.db.orders.count_documents({"_id": {"$in": list(accepted)}})

        async def all_stored() -> bool:
            return await stored() >= len(accepted)

        await eventually(all_stored, timeout=120, interval=1)
        print(f"stored: {await stored()} of {len(accepted)} orders answered 200")

        async def announced() -> bool:
            return {r.json["order"]["id"] for r in receiver.at(hook)} >= accepted

        await eventually(announced, timeout=120, interval=1)
        print(f"announced by webhook: all {len(accepted)}")
        ghosts = await stack.db.orders.count_documents({"checkoutId": {"$in": refused}})
        print(f"orders that exist although their request was answered 503: {ghosts}")
        assert ghosts == 0
    finally:
        await stack.close()
        await receiver.stop()


if __name__ == "__main__":
    asyncio.run(main())
