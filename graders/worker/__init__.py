"""The worker side of the trust boundary, and the wire format both sides share.

This package is self-contained (relative imports, stdlib + torch + safetensors + IPython only)
so that the sandbox can mount it alone: student code that looks for ``graders`` finds nothing.
"""
