"""A local stand-in for the chat.qwen.ai web API, written from the protocol reference.

It is an independent implementation of the upstream: it imports nothing from the
gateway, so passing against it should mean speaking the real protocol.

    sim = await start_simulator(SimOptions(speed=0))   # sim.url, sim.state
    ...
    await sim.stop()

Tests steer it over HTTP, without auth:
  POST /__sim/faults   {"token": t, "faults": [{"kind": K, "on": E, ...}]}   queue faults per token
  POST /__sim/options  {...SimOptions fields...}      GET /__sim/options
  POST /__sim/reset    forget everything, back to the build-time options
  GET  /__sim/requests every /api/* request received: path, query, token, headers, body
  GET  /__sim/streams  each SSE reply's fate: finished, cancelled, faulted, closed
A prompt containing `[[sim:fault=K,k=v]]` acts as a queued fault for that request;
`[[sim:tool=NAME,k=v]]` makes the reply a `<tool_call>` block. See `faults` for
the kinds and `script` for the deterministic replies.
"""

from .app import build_simulator
from .options import SimOptions
from .server import RunningSimulator, start_simulator
from .state import SimState

__all__ = ["RunningSimulator", "SimOptions", "SimState", "build_simulator", "start_simulator"]
