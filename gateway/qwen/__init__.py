"""Everything that talks to, or parses, the upstream Qwen Chat web API."""
