"""libdsa from Python: DeepSeek Sparse Attention ops on arrays that stay where they are.

    import dsa
    dsa.devices()                          # every device libdsa found
    logits = dsa.indexer_logits(q, k, weights, ks, ke, k_scale=k_scale)
    idx = dsa.topk(logits, 2048, ks, ke)
    out, lse = dsa.sparse_mla_decode(q, kv_cache, slots, sm_scale)

Arrays are anything with __dlpack__ (PyTorch CPU/CUDA tensors, NumPy, CuPy), read in place with
their strides. CUDA work runs on the producer's current stream. Errors raise dsa.DsaError with
libdsa's status and message. FlashMLA- and DeepGEMM-style entry points (flash_mla_sparse_fwd,
flash_mla_with_kvcache, fp8_mqa_logits, fp8_paged_mqa_logits, ...) take the same arguments as
those libraries; docs/python.md lists the differences.
"""
from ._lib import DsaError, LibraryNotFoundError, library_path
from ._dlpack import Typed
from ._runtime import Context, DeviceInfo, backend_available, devices, version
from ._ops import (dequantize_fp8, index_cache_read, index_cache_write, indexer_decode_logits, indexer_logits,
                   kv_cache_read, kv_cache_write, quantize_fp8, sparse_mla_decode, sparse_mla_prefill, topk)
from ._compat import (FlashMLASchedMeta, flash_mla_sparse_fwd, flash_mla_with_kvcache, fp8_mqa_logits,
                      fp8_paged_mqa_logits, get_mla_metadata, get_paged_mqa_logits_metadata)

__version__ = "0.1.0"


def tensor(array, dtype):
    """array seen as libdsa dtype `dtype` ("bf16", "fp8", "fp32", ...), without a copy: how NumPy
    (which has no bf16 or fp8) passes bf16 bits in uint16 arrays and fp8 codes in uint8 arrays."""
    return Typed(array, dtype)


__all__ = [
    "DsaError", "LibraryNotFoundError", "library_path", "Context", "DeviceInfo", "backend_available", "devices",
    "version", "tensor",
    "indexer_logits", "indexer_decode_logits", "topk", "sparse_mla_prefill", "sparse_mla_decode",
    "kv_cache_write", "index_cache_write", "kv_cache_read", "index_cache_read", "quantize_fp8", "dequantize_fp8",
    "flash_mla_sparse_fwd", "flash_mla_with_kvcache", "get_mla_metadata", "FlashMLASchedMeta",
    "fp8_mqa_logits", "fp8_paged_mqa_logits", "get_paged_mqa_logits_metadata",
]
