"""Threshold CKKS: a collective key no single party holds (Mouchet et al. 2021, 2022).

:mod:`.keys` builds the collective public key from the custodians' own secret shares
over a common random polynomial, and re-shares those shares t-out-of-m;
:mod:`.decryption` is a custodian's flooded partial decryption and the aggregator's
fusion; :mod:`.flooding` derives the flooding width from a statistical security level.
"""
