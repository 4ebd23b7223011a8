"""The PyTorch peers of perf/gpu/bench.py: each op written the obvious way (../shared/GPU.md):
gather + matmul + logsumexp for sparse MLA, a dense bf16 matmul + relu + weighted sum for the
indexer, torch.topk for top-k. Long rows are processed in chunks of query rows so that the gathered
intermediate fits in memory; the chunking is part of what the peer costs, as it would be in an
engine written this way."""
import torch


def _attend(q, rows, sm_scale, valid):
    """q [n, H, Dqk] bf16, rows [n, T, Dqk] bf16 (V = rows[..., :512]), valid [n, T] bool."""
    s = torch.einsum("nhd,ntd->nht", q, rows).float() * sm_scale
    s = s.masked_fill(~valid[:, None, :], float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    p = torch.exp(s - lse[..., None]).to(torch.bfloat16)
    out = torch.einsum("nht,ntv->nhv", p, rows[..., :512])
    return out, lse


def sparse_mla_prefill(q, kv, indices, sm_scale, chunk=256):
    """q [S, H, D] bf16, kv [Skv, 1, D] bf16, indices [S, 1, topk] int32 (invalid < 0 or >= Skv)."""
    S = q.shape[0]
    skv = kv.shape[0]
    out = torch.empty(S, q.shape[1], 512, dtype=torch.bfloat16, device=q.device)
    lse = torch.empty(S, q.shape[1], dtype=torch.float32, device=q.device)
    flat = kv[:, 0, :]
    for s0 in range(0, S, chunk):
        idx = indices[s0:s0 + chunk, 0, :].long()
        valid = (idx >= 0) & (idx < skv)
        rows = flat[idx.clamp(0, skv - 1)]
        out[s0:s0 + chunk], lse[s0:s0 + chunk] = _attend(q[s0:s0 + chunk], rows, sm_scale, valid)
    return out, lse


def dequantize_mla_rows(rows):
    """rows [..., 656] uint8 (SPEC.md section 4) -> [..., 576] bf16."""
    lat = rows[..., :512].contiguous().view(torch.float8_e4m3fn).float()
    scales = rows[..., 512:528].contiguous().view(torch.float32)
    lat = lat.unflatten(-1, (4, 128)) * scales[..., None]
    rope = rows[..., 528:656].contiguous().view(torch.bfloat16)
    return torch.cat([lat.flatten(-2).to(torch.bfloat16), rope], dim=-1)


def sparse_mla_decode(q, kv_cache, indices, sm_scale, chunk=32):
    """q [B, Sq, H, 576] bf16, kv_cache [pages, P, 656] uint8, indices [B, Sq, topk] slots."""
    B, Sq, H, _ = q.shape
    flat = kv_cache.view(-1, 656)
    slots = flat.shape[0]
    qf = q.reshape(B * Sq, H, 576)
    xf = indices.reshape(B * Sq, -1).long()
    out = torch.empty(B * Sq, H, 512, dtype=torch.bfloat16, device=q.device)
    lse = torch.empty(B * Sq, H, dtype=torch.float32, device=q.device)
    for r0 in range(0, B * Sq, chunk):
        idx = xf[r0:r0 + chunk]
        valid = (idx >= 0) & (idx < slots)
        rows = dequantize_mla_rows(flat[idx.clamp(0, slots - 1)])
        out[r0:r0 + chunk], lse[r0:r0 + chunk] = _attend(qf[r0:r0 + chunk], rows, sm_scale, valid)
    return out.view(B, Sq, H, 512), lse.view(B, Sq, H).transpose(1, 2)


def indexer_logits(q, k, k_scale, weights, ks, ke, chunk=512):
    """DeepGEMM's setting in bf16: q [S, H, D] fp8, k [Skv, D] fp8, k_scale [Skv], weights [S, H];
    dense over all Skv keys, then masked to [ks, ke)."""
    S, H, D = q.shape
    skv = k.shape[0]
    kb = (k.float() * k_scale[:, None]).to(torch.bfloat16)
    cols = torch.arange(skv, device=q.device)
    logits = torch.empty(S, skv, dtype=torch.float32, device=q.device)
    for s0 in range(0, S, chunk):
        qb = q[s0:s0 + chunk].to(torch.bfloat16)
        sc = torch.relu(torch.einsum("shd,td->sht", qb, kb).float())
        lg = torch.einsum("sht,sh->st", sc, weights[s0:s0 + chunk])
        mask = (cols[None, :] >= ks[s0:s0 + chunk, None]) & (cols[None, :] < ke[s0:s0 + chunk, None])
        logits[s0:s0 + chunk] = lg.masked_fill(~mask, float("-inf"))
    return logits


def topk(scores, k):
    return torch.topk(scores, k, dim=-1, sorted=False).indices
