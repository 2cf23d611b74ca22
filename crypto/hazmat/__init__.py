"""Dangerous primitives with explicit parameters.

Like ``cryptography.hazmat``: correct only when used as the protocol modules use
them. Code outside :mod:`blindsum.crypto` (routes, the aggregator, the SDK, the
demo, benchmarks) uses the recipes instead: :mod:`blindsum.crypto.identity`,
:mod:`blindsum.crypto.randomness` and the protocol modules' own sign and verify
functions; ``tests/test_layering.py`` holds it to that.
"""
