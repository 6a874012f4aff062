"""The upstream adapter: the only code that talks HTTP to vLLM."""
