"""Call-compatible entry points for engines written against FlashMLA and DeepGEMM.

Same argument names, defaults and return tuples as FlashMLA's flash_mla_sparse_fwd /
flash_mla_with_kvcache / get_mla_metadata and DeepGEMM's fp8_mqa_logits / fp8_paged_mqa_logits /
get_paged_mqa_logits_metadata, so that switching is a change of import. Every difference is
listed in docs/python.md; a feature libdsa does not have raises DsaError (DSA_ERROR_UNSUPPORTED)
instead of being ignored.
"""
from . import _dlpack as D
from . import _lib as L
from . import _ops as O


def _unsupported(what):
    L.fail(L.ERROR_UNSUPPORTED, what)


def _squeeze_heads(obj, name, dim):
    """obj without its size-1 head dimension `dim` (FlashMLA and DeepGEMM caches carry h_k = 1
    explicitly; libdsa's layouts do not). No copy: the dimension is dropped from the view."""
    return D.Squeezed(obj, dim)


# ---- FlashMLA -----------------------------------------------------------------------------------

def flash_mla_sparse_fwd(q, kv, indices, sm_scale, d_v=512, attn_sink=None, topk_length=None, indexer_topk=0):
    """FlashMLA's sparse prefill: returns (output [s_q, h_q, d_v] bf16, max_logits [s_q, h_q] fp32,
    lse [s_q, h_q] fp32, natural log). kv [s_kv, h_kv=1, d_qk], indices [s_q, h_kv=1, topk]."""
    if d_v != 512:
        L.fail(L.ERROR_INVALID_ARGUMENT, "flash_mla_sparse_fwd: d_v is %r, expected 512" % (d_v,))
    if indexer_topk:
        _unsupported("flash_mla_sparse_fwd: indexer_topk=%r (the extra lse over the indexer part) is not offered "
                     "by libdsa; pass 0" % (indexer_topk,))
    return O.sparse_mla_prefill(q, kv, indices, sm_scale, topk_length=topk_length, attn_sink=attn_sink)


class FlashMLASchedMeta:
    """Stands in for FlashMLA's scheduler metadata: libdsa plans its own split, so it holds nothing."""

    have_initialized = False
    config = None
    tile_scheduler_metadata = None
    num_splits = None


def get_mla_metadata(*args, **kwargs):
    """FlashMLA's get_mla_metadata: returns (FlashMLASchedMeta(), None); arguments are ignored."""
    return FlashMLASchedMeta(), None


def flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata,
                           num_splits=None, softmax_scale=None, causal=False, is_fp8_kvcache=False, indices=None,
                           attn_sink=None, extra_k_cache=None, extra_indices_in_kvcache=None, topk_length=None,
                           extra_topk_length=None):
    """FlashMLA's decode, sparse FP8 form only: q [b, s_q, h_q, 576] bf16, k_cache
    [num_blocks, page_block_size, 1, 656] (uint8 or float8_e4m3fn bytes), indices [b, s_q, topk]
    slots. Returns (out [b, s_q, h_q, 512] bf16, softmax_lse [b, h_q, s_q] fp32)."""
    if indices is None:
        _unsupported("flash_mla_with_kvcache: dense attention (indices=None) is not part of libdsa; only the "
                     "sparse FP8-cache decode is")
    if not is_fp8_kvcache:
        L.fail(L.ERROR_INVALID_ARGUMENT, "flash_mla_with_kvcache: is_fp8_kvcache is False; sparse decode takes "
               "the 656-byte FP8 cache (as FlashMLA requires too)")
    if causal:
        L.fail(L.ERROR_INVALID_ARGUMENT, "flash_mla_with_kvcache: causal=True with indices; sparse attention is "
               "not causal-masked (as in FlashMLA)")
    if head_dim_v != 512:
        L.fail(L.ERROR_INVALID_ARGUMENT, "flash_mla_with_kvcache: head_dim_v is %r, expected 512" % (head_dim_v,))
    if num_splits is not None:
        L.fail(L.ERROR_INVALID_ARGUMENT, "flash_mla_with_kvcache: num_splits must be None")
    if extra_k_cache is not None or extra_indices_in_kvcache is not None or extra_topk_length is not None:
        _unsupported("flash_mla_with_kvcache: extra_k_cache / extra_indices_in_kvcache / extra_topk_length (a "
                     "second cache) are not offered by libdsa")
    if softmax_scale is None:
        softmax_scale = q.shape[-1] ** -0.5  # FlashMLA's default: 1/sqrt(head_dim)
    cache = _squeeze_heads(_as_bytes(k_cache), "k_cache", 2)
    return O.sparse_mla_decode(q, cache, indices, softmax_scale, topk_length=topk_length, attn_sink=attn_sink)


def _as_bytes(obj):
    """Cache tensors hold bytes whatever their dtype says (FlashMLA uses float8_e4m3fn views)."""
    if isinstance(obj, D.Typed):
        return obj
    return D.Typed(obj, "uint8")


# ---- DeepGEMM -----------------------------------------------------------------------------------

def fp8_mqa_logits(q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end, clean_logits=True, max_seqlen_k=0):
    """DeepGEMM's indexer logits: q [M, H, D] fp8, kv = (k [N, D] fp8, k_scale [N] fp32),
    weights [M, H] fp32, ks / ke [M] int32. Returns logits [M, N] fp32, -inf outside [ks, ke)."""
    if max_seqlen_k:
        _unsupported("fp8_mqa_logits: max_seqlen_k=%r (logits compressed to each row's range) is not offered by "
                     "libdsa; pass 0 for the [M, N] form" % (max_seqlen_k,))
    if isinstance(kv, (tuple, list)) and len(kv) == 2:
        k, k_scale = kv
    else:
        L.fail(L.ERROR_INVALID_ARGUMENT, "fp8_mqa_logits: kv is a %s, expected the tuple (k_fp8, k_scale)"
               % type(kv).__name__)
    if len(getattr(k_scale, "shape", ())) == 2:  # [N, 1], as some callers keep it
        k_scale = _squeeze_heads(k_scale, "kv[1]", 1)
    return O.indexer_logits(q, k, weights, cu_seq_len_k_start, cu_seq_len_k_end, k_scale=k_scale)


def get_paged_mqa_logits_metadata(context_lens, block_kv, num_sms):
    """DeepGEMM's scheduler metadata: libdsa schedules itself, so this returns None (accepted by
    fp8_paged_mqa_logits as schedule_meta)."""
    return None


def fp8_paged_mqa_logits(q, kv_cache, weights, context_lens, block_table, schedule_meta, max_context_len,
                         clean_logits=False):
    """DeepGEMM's paged indexer logits: q [B, next_n, H, 128] fp8, kv_cache [num_blocks, block_kv, 1, 132]
    uint8, weights [B*next_n, H] fp32, context_lens [B] int32, block_table [B, max_blocks] int32.
    Returns logits [B*next_n, max_context_len] fp32 (always cleaned to -inf)."""
    cache = _squeeze_heads(_as_bytes(kv_cache), "kv_cache", 2)
    return O.indexer_decode_logits(q, cache, weights, context_lens, block_table, max_context_len)
