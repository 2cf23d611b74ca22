"""blindsum: privacy-hardened federated aggregation for LoRA fine-tuning.

The server only ever learns the SUM of a round's updates (pairwise-mask secure
aggregation or CKKS), and every update carries differential-privacy noise.
"""

from blindsum.errors import BlindsumError

__version__ = "0.1.0"

__all__ = ["BlindsumError", "__version__"]
