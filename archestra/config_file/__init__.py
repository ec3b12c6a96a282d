"""Configuration as code: the declarative file (``python -m archestra.config plan|apply|export``) and policy tests
(``python -m archestra.config test``). See docs/configuration-as-code.md."""
