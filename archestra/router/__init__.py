"""The Model Router: one endpoint for every provider's models, translating between API families (issue 26)."""
