"""Dangerous primitives with explicit parameters.

Like ``cryptography.hazmat``: correct only when used as the protocol modules use
them. Routes and SDK code call :mod:`blindsum.crypto.secagg`, never these.
"""
