"""Pure OpenAI ⇄ Qwen mapping: no I/O here."""
