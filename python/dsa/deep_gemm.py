"""DeepGEMM's indexer names, for `import dsa.deep_gemm as deep_gemm` (differences: docs/python.md)."""
from ._compat import fp8_mqa_logits, fp8_paged_mqa_logits, get_paged_mqa_logits_metadata

__all__ = ["fp8_mqa_logits", "fp8_paged_mqa_logits", "get_paged_mqa_logits_metadata"]
