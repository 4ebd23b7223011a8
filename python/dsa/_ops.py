"""The ops of docs/ops.md, one function each, on arrays that stay where they are.

Inputs are any DLPack arrays (NumPy, PyTorch, CuPy); bf16 and fp8 data held in uint16 / uint8
arrays are marked with dsa.tensor(array, "bf16" / "fp8"). Outputs are written in place when given
(out=..., no copy) and otherwise allocated with the first input's library on its device: PyTorch
tensors of the op's dtype, or NumPy arrays (bf16 as uint16 bits, fp8 as uint8 codes). Every
function takes ctx= to run on an explicit dsa.Context; by default the context follows the arrays
(see _runtime.py). Shapes, dtypes, strides and layouts are checked by libdsa itself, and any
failure raises dsa.DsaError with its status and message.
"""
import math

from . import _dlpack as D
from . import _lib as L
from . import _runtime as R

TOPK_FORMS = {"absolute": 0, "relative": 1, "slot": 2}


def _module(obj):
    return type(D.unwrap(obj)).__module__.split(".")[0]


def _shape(obj, name):
    try:
        return tuple(int(n) for n in obj.shape)
    except (AttributeError, TypeError):
        L.fail(L.ERROR_INVALID_ARGUMENT, "%s is a %s, expected an array with a shape" % (name, type(obj).__name__))


def empty(like, shape, dtype, zero=False):
    """A new array for an output of libdsa dtype `dtype`, made by the library `like` comes from,
    on its device. NumPy and CuPy have no bf16/fp8: those come back as uint16/uint8 arrays wrapped
    in dsa.tensor(...) so that libdsa knows their dtype."""
    mod = _module(like)
    like = D.unwrap(like)
    if mod == "torch":
        import torch
        tdtype = {L.FP32: torch.float32, L.FP16: torch.float16, L.BF16: torch.bfloat16, L.INT32: torch.int32,
                  L.UINT8: torch.uint8, L.FP8_E4M3: torch.float8_e4m3fn}[dtype]
        make = torch.zeros if zero else torch.empty
        return make(shape, dtype=tdtype, device=like.device)
    if mod == "cupy":
        import cupy as xp
    else:
        import numpy as xp
        if like.__dlpack_device__()[0] not in R.HOST_DEVICES:
            L.fail(L.ERROR_UNSUPPORTED, "cannot allocate an output next to a %s on a device; pass the output "
                   "array explicitly" % type(like).__name__)
    npdtype = {L.FP32: "float32", L.FP16: "float16", L.BF16: "uint16", L.INT32: "int32", L.UINT8: "uint8",
               L.FP8_E4M3: "uint8"}[dtype]
    arr = (xp.zeros if zero else xp.empty)(shape, dtype=npdtype)
    return D.Typed(arr, dtype) if dtype in (L.BF16, L.FP8_E4M3) else arr


def _plain(a):
    """What the caller gets back: the array itself, not the binding's dtype wrapper."""
    return a.array if isinstance(a, D.Typed) else a


def _call(op, ctx, arrays, scalars=None):
    views, ctx = R.resolve(arrays, ctx)
    R.run(ctx, op, views, scalars)


def _out_dtype(out_dtype):
    code = D.dtype_code(out_dtype, "out_dtype")
    if code not in (L.FP32, L.BF16):
        L.fail(L.ERROR_BAD_DTYPE, "out_dtype is %r, expected 'fp32' or 'bf16'" % (out_dtype,))
    return code


# ---- 1. indexer ---------------------------------------------------------------------------------

def indexer_logits(q, k, weights, ks, ke, k_scale=None, *, logits=None, ctx=None):
    """Lightning indexer logits (prefill), docs/ops.md section 1.

    q [S, H, 128] and k [Skv, 128]: fp8 e4m3 (then k_scale [Skv] fp32 is required), bf16 or fp32;
    weights [S, H] fp32; ks, ke [S] int32. Returns logits [S, Skv] fp32 (-inf outside [ks, ke)).
    """
    if logits is None:
        logits = empty(q, (_shape(q, "q")[0], _shape(k, "k")[0]), L.FP32)
    _call("indexer_logits", ctx, [("q", q), ("k", k), ("k_scale", k_scale), ("weights", weights),
                                  ("ks", ks), ("ke", ke), ("logits", logits)])
    return _plain(logits)


def indexer_decode_logits(q, k_cache, weights, context_lens, block_table, max_context_len=None, *,
                          logits=None, ctx=None):
    """Indexer logits over the paged 132-byte key cache, docs/ops.md section 1b.

    q [B, N, H, 128] fp8; k_cache [num_pages, P, 132] uint8; weights [B*N, H] fp32;
    context_lens [B] int32; block_table [B, max_pages] int32. Returns logits
    [B*N, max_context_len] fp32 (max_context_len is needed when logits is not given: the host
    does not read context_lens).
    """
    if logits is None:
        if max_context_len is None:
            L.fail(L.ERROR_INVALID_ARGUMENT, "indexer_decode_logits: max_context_len is None; give it (the logits "
                   "width) or pass logits")
        qs = _shape(q, "q")
        logits = empty(q, (qs[0] * qs[1] if len(qs) > 1 else 0, int(max_context_len)), L.FP32)
    _call("indexer_decode_logits", ctx, [("q", q), ("k_cache", k_cache), ("weights", weights),
                                         ("context_lens", context_lens), ("block_table", block_table),
                                         ("logits", logits)])
    return _plain(logits)


# ---- 2. top-k -----------------------------------------------------------------------------------

def topk(scores, k, ks=None, ke=None, lengths=None, *, sorted=False, form="absolute", block_table=None,
         page_size=0, indices=None, ctx=None):
    """The k best columns of each row's range, docs/ops.md section 2.

    scores [S, L] fp32; the range of row i is [ks[i], ke[i]) (both given), or [0, lengths[i]), or the
    whole row. form: "absolute" (column j), "relative" (j - ks[i]) or "slot" (block_table [B,
    max_pages] and page_size map j to its cache slot). Returns indices [S, k] int32, -1 padded;
    sorted=True orders them by descending score.
    """
    if form not in TOPK_FORMS:
        L.fail(L.ERROR_INVALID_ARGUMENT, "topk: form is %r, expected one of %s" % (form, ", ".join(TOPK_FORMS)))
    if indices is None:
        indices = empty(scores, (_shape(scores, "scores")[0], max(int(k), 0)), L.INT32)
    _call("topk", ctx, [("scores", scores), ("ks", ks), ("ke", ke), ("lengths", lengths),
                        ("block_table", block_table), ("indices", indices)],
          {"k": int(k), "form": TOPK_FORMS[form], "page_size": int(page_size), "sorted": 1 if sorted else 0})
    return _plain(indices)


# ---- 3, 4. sparse MLA ---------------------------------------------------------------------------

def _sm_scale(sm_scale):
    s = float(sm_scale)
    if not math.isfinite(s):
        L.fail(L.ERROR_INVALID_ARGUMENT, "sm_scale is %r, expected a finite number" % (sm_scale,))
    return s


def sparse_mla_prefill(q, kv, indices, sm_scale, topk_length=None, attn_sink=None, *, out=None,
                       max_logits=None, lse=None, ctx=None):
    """Sparse MLA prefill, docs/ops.md section 3.

    q [S, Hq, 576 or 512] bf16; kv [Skv, 1, Dqk] bf16; indices [S, 1, topk] int32; sm_scale explicit;
    optional topk_length [S] int32 and attn_sink [Hq] fp32. Returns (out [S, Hq, 512] bf16,
    max_logits [S, Hq] fp32, lse [S, Hq] fp32, natural log).
    """
    qs = _shape(q, "q")
    s_hq = qs[:2] if len(qs) >= 2 else (0, 0)
    out = empty(q, s_hq + (512,), L.BF16) if out is None else out
    max_logits = empty(q, s_hq, L.FP32) if max_logits is None else max_logits
    lse = empty(q, s_hq, L.FP32) if lse is None else lse
    _call("sparse_mla_prefill", ctx, [("q", q), ("kv", kv), ("indices", indices), ("topk_length", topk_length),
                                      ("attn_sink", attn_sink), ("out", out), ("max_logits", max_logits),
                                      ("lse", lse)], {"sm_scale": _sm_scale(sm_scale)})
    return _plain(out), _plain(max_logits), _plain(lse)


def sparse_mla_decode(q, kv_cache, indices, sm_scale, topk_length=None, attn_sink=None, *, out=None, lse=None,
                      ctx=None):
    """Sparse MLA decode over the paged 656-byte FP8 cache, docs/ops.md section 4.

    q [B, Sq, Hq, 576] bf16; kv_cache [num_pages, P, 656] uint8; indices [B, Sq, topk] int32 slots;
    optional topk_length [B] int32 and attn_sink [Hq] fp32. Returns (out [B, Sq, Hq, 512] bf16,
    lse [B, Hq, Sq] fp32).
    """
    qs = _shape(q, "q")
    b, sq, hq = qs[:3] if len(qs) >= 3 else (0, 0, 0)
    out = empty(q, (b, sq, hq, 512), L.BF16) if out is None else out
    lse = empty(q, (b, hq, sq), L.FP32) if lse is None else lse
    _call("sparse_mla_decode", ctx, [("q", q), ("kv_cache", kv_cache), ("indices", indices),
                                     ("topk_length", topk_length), ("attn_sink", attn_sink), ("out", out),
                                     ("lse", lse)], {"sm_scale": _sm_scale(sm_scale)})
    return _plain(out), _plain(lse)


# ---- 5. caches and quantization -----------------------------------------------------------------

def kv_cache_write(rows, slots, cache, *, ctx=None):
    """Quantizes rows [N, 576] (bf16 or fp32) into their slots [N] of the 656-byte MLA cache
    [num_pages, P, 656] uint8, in place. Returns cache."""
    _call("kv_cache_write", ctx, [("rows", rows), ("slots", slots), ("cache", cache)])
    return _plain(cache)


def index_cache_write(rows, slots, cache, *, ctx=None):
    """Quantizes indexer keys [N, 128] (bf16 or fp32) into their slots of the 132-byte key cache
    [num_pages, P, 132] uint8, in place. Returns cache."""
    _call("index_cache_write", ctx, [("rows", rows), ("slots", slots), ("cache", cache)])
    return _plain(cache)


def kv_cache_read(cache, slots, *, out=None, out_dtype="fp32", ctx=None):
    """The dequantized rows [N, 576] of slots [N] of the MLA cache (fp32 or bf16). Rows of slots
    outside the cache are left as they were (zeros when the binding allocates out)."""
    if out is None:
        out = empty(cache, (_shape(slots, "slots")[0], 576), _out_dtype(out_dtype), zero=True)
    _call("kv_cache_read", ctx, [("cache", cache), ("slots", slots), ("out", out)])
    return _plain(out)


def index_cache_read(cache, slots, *, out=None, out_dtype="fp32", ctx=None):
    """The dequantized keys [N, 128] of slots [N] of the indexer key cache (fp32 or bf16)."""
    if out is None:
        out = empty(cache, (_shape(slots, "slots")[0], 128), _out_dtype(out_dtype), zero=True)
    _call("index_cache_read", ctx, [("cache", cache), ("slots", slots), ("out", out)])
    return _plain(out)


def quantize_fp8(x, *, q=None, scales=None, ctx=None):
    """FP8 group quantization of x [..., 128*g] (bf16, fp16 or fp32): returns (q fp8 e4m3, same
    shape; scales [..., g] fp32, powers of two)."""
    xs = _shape(x, "x")
    q = empty(x, xs, L.FP8_E4M3) if q is None else q
    scales = empty(x, xs[:-1] + (xs[-1] // 128 if xs else 0,), L.FP32) if scales is None else scales
    _call("quantize_fp8", ctx, [("x", x), ("q", q), ("scales", scales)])
    return _plain(q), _plain(scales)


def dequantize_fp8(q, scales, *, out=None, out_dtype="fp32", ctx=None):
    """q [..., 128*g] fp8 e4m3 times scales [..., g] fp32: out, same shape as q, fp32 or bf16."""
    if out is None:
        out = empty(q, _shape(q, "q"), _out_dtype(out_dtype))
    _call("dequantize_fp8", ctx, [("q", q), ("scales", scales), ("out", out)])
    return _plain(out)
