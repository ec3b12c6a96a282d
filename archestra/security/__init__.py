"""Built-in security: tool discovery, tool result trust, tool call policies (product spec section 3)."""
