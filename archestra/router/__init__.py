"""The Model Router (issue 26): one OpenAI- and Anthropic-compatible endpoint for every provider's models."""
