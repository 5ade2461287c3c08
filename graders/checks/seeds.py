"""Seeds the worker may see, derived one-way from the hidden seed.

The hidden seed generates the hidden inputs and data in the judge. Student code must learn nothing
about it: `torch.initial_seed()` inside a call, or a `seed` argument, would otherwise give it away
(and with it every hidden input). What the worker gets is a keyed hash of the hidden seed and the
purpose, which cannot be turned back into the hidden seed and differs from it.
"""

from __future__ import annotations

import hashlib


def one_way_seed(seed: int, *, purpose: str = "worker") -> int:
    """A seed for `purpose` derived from `seed` by SHA-256: the same for the same inputs, reveals nothing
    of `seed`, and never equal to it in practice. In [0, 2**63)."""
    digest = hashlib.sha256(f"graders one-way seed\0{purpose}\0{int(seed)}".encode()).digest()
    value = int.from_bytes(digest[:8], "big") % 2**63
    return value if value != seed else value ^ 1
