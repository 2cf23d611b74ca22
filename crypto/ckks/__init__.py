"""CKKS mode: clients encrypt, the aggregator adds ciphertexts, only the closed sum is decrypted.

The aggregator's request path never touches TenSEAL: uploads are raw RNS
coefficients in a fixed-size binary format (:mod:`.wire`), checked and added
with numpy (:mod:`.accumulator`). TenSEAL runs on clients (encryption) and in
key custody (decryption of the closed sum only, :mod:`.custody`).
"""
