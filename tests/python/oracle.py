"""An fp64 reference for every op, written from docs/ops.md alone (never from libdsa's code).

Plain loops over rows, heads and selected entries, NumPy only for the arithmetic of one row, so
that each line can be checked against the specification by reading it. Dtypes are handled as
bits: bf16 as uint16, fp8 e4m3 as uint8 codes, caches as uint8 bytes.
"""
import math

import numpy as np

# ---- dtypes ------------------------------------------------------------------------------------


def bf16_bits(x):
    """float32 values -> bf16 bits (uint16), round to nearest even; NaN stays NaN."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(nan, np.uint16(0x7FC0), r).astype(np.uint16)


def bf16_value(bits):
    """bf16 bits -> float64, exactly."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def _e4m3_table():
    """The value of each of the 256 OCP E4M3FN codes (bias 7, no infinities, 0x7F/0xFF NaN)."""
    t = np.empty(256)
    for c in range(256):
        e, m = (c >> 3) & 15, c & 7
        if e == 0:
            v = m * 2.0 ** -9
        else:
            v = (1 + m / 8.0) * 2.0 ** (e - 7)
        if c & 0x7F == 0x7F:
            v = math.nan
        t[c] = -v if c & 0x80 else v
    return t


E4M3 = _e4m3_table()


def e4m3_value(codes):
    return E4M3[np.asarray(codes, dtype=np.uint8)]


def e4m3_code(v):
    """The E4M3 code nearest to v (|v| <= 448), ties to the even code; the sign of zero kept."""
    if math.isnan(v):
        return 0x7F
    sign = 0x80 if math.copysign(1.0, v) < 0 else 0
    a = abs(v)
    best = 0
    for c in range(1, 0x7F):  # positive finite codes ascend with their values
        d, db = abs(E4M3[c] - a), abs(E4M3[best] - a)
        if d < db or (d == db and c % 2 == 0):
            best = c
    return best | sign


def pow2_scale(values):
    """docs/ops.md: amax over finite values (at least 1e-4); the smallest 2^e with amax <= 448 * 2^e."""
    fin = [abs(v) for v in values if math.isfinite(v)]
    amax = max(fin + [1e-4])
    e = math.ceil(math.log2(amax / 448.0))
    while 448.0 * 2.0 ** (e - 1) >= amax:
        e -= 1
    while 448.0 * 2.0 ** e < amax:
        e += 1
    return 2.0 ** e


def quantize_group(values):
    """128 values -> (128 codes, scale)."""
    s = pow2_scale(values)
    codes = []
    for v in values:
        if math.isnan(v):
            codes.append(0x7F | (0x80 if math.copysign(1.0, v) < 0 else 0))
        else:
            codes.append(e4m3_code(min(max(v / s, -448.0), 448.0)))
    return codes, s


def quantize(x):
    """x [..., 128*g] float64 -> (codes uint8 same shape, scales float32 [..., g])."""
    x = np.asarray(x, dtype=np.float64)
    g = x.shape[-1] // 128
    flat = x.reshape(-1, x.shape[-1])
    q = np.zeros(flat.shape, dtype=np.uint8)
    s = np.zeros((flat.shape[0], g), dtype=np.float32)
    for r in range(flat.shape[0]):
        for j in range(g):
            codes, scale = quantize_group(list(flat[r, 128 * j:128 * (j + 1)]))
            q[r, 128 * j:128 * (j + 1)] = codes
            s[r, j] = scale
    return q.reshape(x.shape), s.reshape(x.shape[:-1] + (g,))


# ---- caches (byte layouts of docs/ops.md) -------------------------------------------------------


def kv_cache_write(cache, rows, slots):
    """rows [N, 576] float64 (already bf16- or fp32-exact) into the 656-byte cache, in a copy."""
    cache = cache.copy()
    pages, P = cache.shape[0], cache.shape[1]
    for r, s in enumerate(slots):  # in order: a later row wins a shared slot
        if not 0 <= s < pages * P:
            continue
        row = np.zeros(656, dtype=np.uint8)
        for g in range(4):
            codes, scale = quantize_group(list(rows[r, 128 * g:128 * (g + 1)]))
            row[128 * g:128 * (g + 1)] = codes
            row[512 + 4 * g:516 + 4 * g] = np.frombuffer(np.float32(scale).tobytes(), dtype=np.uint8)
        row[528:656] = bf16_bits(rows[r, 512:576].astype(np.float32)).view(np.uint8)
        cache[s // P, s % P] = row
    return cache


def kv_cache_row(cache, slot):
    """The dequantized 576 values of a slot of the 656-byte cache."""
    P = cache.shape[1]
    row = cache[slot // P, slot % P]
    scales = row[512:528].copy().view(np.float32).astype(np.float64)
    out = np.empty(576)
    for g in range(4):
        out[128 * g:128 * (g + 1)] = e4m3_value(row[128 * g:128 * (g + 1)]) * scales[g]
    out[512:] = bf16_value(row[528:656].copy().view(np.uint16))
    return out


def index_cache_write(cache, rows, slots):
    """Keys [N, 128] into the 132-byte paged cache: per page P*128 fp8 bytes, then P fp32 scales."""
    cache = cache.copy()
    pages, P = cache.shape[0], cache.shape[1]
    for r, s in enumerate(slots):
        if not 0 <= s < pages * P:
            continue
        codes, scale = quantize_group(list(rows[r]))
        page = cache[s // P].reshape(-1)
        t = s % P
        page[128 * t:128 * (t + 1)] = codes
        page[P * 128 + 4 * t:P * 128 + 4 * t + 4] = np.frombuffer(np.float32(scale).tobytes(), dtype=np.uint8)
        cache[s // P] = page.reshape(P, 132)
    return cache


def index_cache_key(cache, slot):
    """(128 fp8 values as float64, scale) of a slot of the 132-byte cache."""
    P = cache.shape[1]
    page = cache[slot // P].reshape(-1)
    t = slot % P
    key = e4m3_value(page[128 * t:128 * (t + 1)])
    scale = float(page[P * 128 + 4 * t:P * 128 + 4 * t + 4].copy().view(np.float32)[0])
    return key, scale


# ---- indexer -----------------------------------------------------------------------------------


def indexer_logits(q, k, k_scale, weights, ks, ke):
    """q [S, H, D], k [Skv, D] float64; logits [S, Skv] with -inf outside [clamp ks, clamp ke)."""
    S, H, _ = q.shape
    Skv = k.shape[0]
    out = np.full((S, Skv), -np.inf)
    for i in range(S):
        lo, hi = min(max(int(ks[i]), 0), Skv), min(max(int(ke[i]), 0), Skv)
        for j in range(lo, hi):
            acc = 0.0
            for h in range(H):
                acc += max(0.0, float(np.dot(q[i, h], k[j]))) * weights[i, h]
            out[i, j] = acc * k_scale[j]
    return out


def indexer_decode_logits(q, cache, weights, context_lens, block_table, M):
    """q [B, N, H, 128] float64 over the 132-byte cache; logits [B*N, M]."""
    B, N, H, _ = q.shape
    pages, P = cache.shape[0], cache.shape[1]
    out = np.full((B * N, M), -np.inf)
    for b in range(B):
        for n in range(N):
            pos = int(context_lens[b]) - N + n
            for j in range(M):
                if j > pos or j // P >= block_table.shape[1]:
                    continue
                p = int(block_table[b, j // P])
                if not 0 <= p < pages:
                    continue
                key, scale = index_cache_key(cache, p * P + j % P)
                acc = 0.0
                for h in range(H):
                    acc += max(0.0, float(np.dot(q[b, n, h], key))) * weights[b * N + n, h]
                out[b * N + n, j] = acc * scale
    return out


# ---- top-k -------------------------------------------------------------------------------------


def _rank_key(v, j):
    """Sort key, best first: class (NaN < -inf < numbers < +inf), value (+0 == -0), lower index."""
    if math.isnan(v):
        cls, val = 0, 0.0
    elif v == -math.inf:
        cls, val = 1, 0.0
    elif v == math.inf:
        cls, val = 3, 0.0
    else:
        cls, val = 2, v + 0.0
    return (-cls, -val, j)


def topk_columns(row, lo, hi, k):
    """The selected columns of row[lo:hi], best first (at most k)."""
    cols = sorted(range(lo, hi), key=lambda j: _rank_key(float(row[j]), j))
    return cols[:k]


def topk(scores, k, ks=None, ke=None, lengths=None):
    """For each row: the best columns (absolute), as a list of lists, best first."""
    S, L = scores.shape
    rows = []
    for i in range(S):
        if ks is not None:
            lo, hi = min(max(int(ks[i]), 0), L), min(max(int(ke[i]), 0), L)
        elif lengths is not None:
            lo, hi = 0, min(max(int(lengths[i]), 0), L)
        else:
            lo, hi = 0, L
        rows.append((lo, topk_columns(scores[i], lo, max(lo, hi), k)))
    return rows


# ---- sparse MLA ----------------------------------------------------------------------------------


def _attend(qrow, kv_rows, sm_scale, sink):
    """One query head over its gathered rows (float64): (out [512], max_logit, lse)."""
    if not kv_rows:
        return np.zeros(512), -math.inf, math.inf
    p = np.array([float(np.dot(qrow, r)) * sm_scale for r in kv_rows])
    m = np.max(p[~np.isnan(p)]) if np.any(~np.isnan(p)) else math.nan
    lse = m + math.log(float(np.sum(np.exp(p - m))))
    out = np.zeros(512)
    for pj, r in zip(p, kv_rows):
        out += math.exp(pj - lse) * r[:512]
    if sink is not None:
        out *= 1.0 / (1.0 + math.exp(sink - lse))
    return out, m, lse


def sparse_mla_prefill(q, kv, indices, sm_scale, topk_length=None, sink=None):
    """q [S, Hq, D], kv [Skv, 1, D] float64; indices [S, 1, topk]. (out, max_logits, lse)."""
    S, Hq, _ = q.shape
    Skv, topk_ = kv.shape[0], indices.shape[2]
    out, ml, lse = np.zeros((S, Hq, 512)), np.zeros((S, Hq)), np.zeros((S, Hq))
    for i in range(S):
        used = topk_ if topk_length is None else min(max(int(topk_length[i]), 0), topk_)
        rows = [kv[t, 0] for t in indices[i, 0, :used] if 0 <= t < Skv]
        for h in range(Hq):
            out[i, h], ml[i, h], lse[i, h] = _attend(q[i, h], rows, sm_scale, None if sink is None else sink[h])
    return out, ml, lse


def sparse_mla_decode(q, cache, indices, sm_scale, topk_length=None, sink=None):
    """q [B, Sq, Hq, 576] float64 over the 656-byte cache; (out [B, Sq, Hq, 512], lse [B, Hq, Sq])."""
    B, Sq, Hq, _ = q.shape
    slots = cache.shape[0] * cache.shape[1]
    topk_ = indices.shape[2]
    out, lse = np.zeros((B, Sq, Hq, 512)), np.zeros((B, Hq, Sq))
    for b in range(B):
        used = topk_ if topk_length is None else min(max(int(topk_length[b]), 0), topk_)
        for s in range(Sq):
            rows = [kv_cache_row(cache, int(t)) for t in indices[b, s, :used] if 0 <= t < slots]
            for h in range(Hq):
                out[b, s, h], _, lse[b, h, s] = _attend(q[b, s, h], rows, sm_scale,
                                                       None if sink is None else sink[h])
    return out, lse


# ---- accuracy ----------------------------------------------------------------------------------


def diff(x, y):
    """1 - 2 sum(xy) / sum(x^2 + y^2) over entries finite in both, in fp64 (0: identical)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    m = np.isfinite(x) & np.isfinite(y)
    x, y = x[m], y[m]
    den = float(np.sum(x * x + y * y))
    return 0.0 if den == 0 else 1.0 - 2.0 * float(np.sum(x * y)) / den
