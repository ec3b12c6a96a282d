"""API families as codecs (issue 26): the neutral chat form (``neutral``), the codec interface (``codec``) and
one translation codec per wire format, which the Model Router (``router/``) composes."""
