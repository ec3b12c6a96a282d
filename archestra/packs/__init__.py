"""Policy packs: named, versioned sets of tool policies for one agent or one tool server (``docs/packs.md``).

The shipped packs are the ``*.yaml`` files of this folder; ``ARCHESTRA_PACKS_DIR`` adds the operator's own.
``catalog.py`` reads and validates them, ``apply.py`` applies them to a profile or to every profile (the
management API, the console and the configuration file all call :func:`apply_packs`), and
``security/pack_rules.py`` turns the applied ones into rules of the policy engine's template layer.
"""
