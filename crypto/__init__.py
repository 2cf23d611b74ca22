"""Pure primitives and protocol state machines: no I/O, no HTTP, no database.

``crypto`` imports nothing else from blindsum but :mod:`blindsum.errors`.
"""
