"""The exception tree."""

from __future__ import annotations

import inspect

import blindsum.errors as errors
from blindsum import BlindsumError


def test_every_exported_error_derives_from_blindsum_error() -> None:
    for name in errors.__all__:
        if name == "error_class_for":
            continue
        cls = getattr(errors, name)
        assert inspect.isclass(cls) and issubclass(cls, BlindsumError), name


def test_the_tree_documented_in_the_docstring_is_the_real_one() -> None:
    doc = errors.__doc__ or ""
    for name in set(errors.__all__) - {"error_class_for"}:
        assert name in doc, f"{name} is missing from the drawn tree"
    assert issubclass(errors.ThresholdNotMetError, errors.ProtocolError)
    assert issubclass(errors.InvalidSignatureError, errors.CryptoError)
    assert not issubclass(errors.CryptoError, errors.ProtocolError)
