"""Wire codecs for streamed responses: small pure classes (feed bytes, get events)."""


class StreamFormatError(ValueError):
    """The upstream stream is not valid in its wire format (corrupt frame, oversized event...)."""
