"""FlashMLA's names, for `import dsa.flash_mla as flash_mla` (differences: docs/python.md)."""
from ._compat import FlashMLASchedMeta, flash_mla_sparse_fwd, flash_mla_with_kvcache, get_mla_metadata

__all__ = ["FlashMLASchedMeta", "flash_mla_sparse_fwd", "flash_mla_with_kvcache", "get_mla_metadata"]
