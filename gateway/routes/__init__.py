"""Route handlers: parse the request, call a service (`gateway/calls/`), render the answer.

No route imports another (`tests/test_layers.py`); every route that calls Qwen is `watched`.
"""
