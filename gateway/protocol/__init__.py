"""Wire formats of the gateway's HTTP API (OpenAI and Tabby shapes); no logic beyond validation."""
