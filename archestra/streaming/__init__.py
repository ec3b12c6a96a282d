"""Wire codecs for streamed responses: small pure classes (feed bytes, get events)."""
