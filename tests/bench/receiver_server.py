"""A receiver for the webhook benchmark, in a process of its own: answers 204 at once
(or never, under /hang/) and counts what it got. ``GET /count`` tells the counts."""

import asyncio
import sys
from collections import Counter

from aiohttp import web

counts: Counter[str] = Counter()


async def receive(request: web.Request) -> web.Response:
    await request.read()
    if request.path.startswith("/hang/"):
        await asyncio.sleep(3600)
    counts[request.path.split("/")[1]] += 1
    return web.Response(status=204)


async def count(_: web.Request) -> web.Response:
    return web.json_response(dict(counts))


def main() -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    app.router.add_get("/count", count)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
