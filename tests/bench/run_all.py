"""`make bench`: every benchmark, one after the other, printing its numbers."""

import asyncio

from . import create, queries, webhooks


async def main() -> None:
    for name, module in (("GET /orders", queries), ("POST /orders", create), ("webhooks", webhooks)):
        print(f"\n=== {name} ===", flush=True)
        await module.main()


if __name__ == "__main__":
    asyncio.run(main())
