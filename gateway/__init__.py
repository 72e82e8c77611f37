"""Qwen Gateway: an OpenAI-compatible gateway in front of Qwen Chat."""

__version__ = "0.1.0"
