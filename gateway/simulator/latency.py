"""A network round trip in front of the whole simulator (`SimOptions.rtt`).

Half of the round trip before the app sees a request (it "travels" to the server, so
the request log and every side effect happen when a real server would get it), the
other half on the response head on its way back. Everything after the head follows
at the server's own pace, shifted by that same half, as over a real link. Real
seconds, never scaled by `speed`: this is the network, not the model. The test
control plane (`/__sim/*`) answers at once.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .state import SimState


class RoundTrip:
    def __init__(self, app: ASGIApp, sim: SimState) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rtt = self.sim.options.rtt
        if scope["type"] != "http" or rtt <= 0 or scope["path"].startswith("/__sim/"):
            await self.app(scope, receive, send)
            return
        if await self.sim.pause(rtt / 2):
            return  # shutting down: the request never "arrives"

        async def send_later(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self.sim.pause(rtt / 2)
            await send(message)

        await self.app(scope, receive, send_later)
