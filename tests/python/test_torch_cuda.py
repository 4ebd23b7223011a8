#!/usr/bin/env python3
"""The Python binding on PyTorch tensors: CUDA (on a machine with an NVIDIA GPU) and CPU.

    DSA_LIBRARY=path/to/libdsa.so python3 tests/python/test_torch_cuda.py [-v]

Skips cleanly (exit 0, saying why) without PyTorch, and the CUDA cases without a CUDA device.
Every op on torch CUDA tensors against the fp64 oracle of tests/python/oracle.py with SPEC.md's
bars; bitwise-identical reruns; results ordered with the work of a non-default torch stream (the
input is produced after a long sleep on that stream, the op runs on it and the result is read on
it, with no synchronization on the dsa side) and the call returning before that work is done;
torch's float8_e4m3fn and bfloat16 tensors taken natively, strided views, FlashMLA- and
DeepGEMM-style calls, and bad input raising dsa.DsaError.
On a GPU machine (the H100 of shared/GPU.md), run it with DSA_LIBRARY pointing at libdsa.so.
"""
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

import dsa  # noqa: E402
import oracle as ref  # noqa: E402
from test_binding import SM_SCALE, bf16_of, fp8_codes  # noqa: E402

HAVE_CUDA = torch is not None and torch.cuda.is_available()


# ---- moving data between NumPy (oracle) and torch -----------------------------------------------

def t_bf16(bits, device):
    """bf16 bits (uint16 NumPy) -> torch.bfloat16 tensor on device."""
    return torch.from_numpy(np.ascontiguousarray(bits).view(np.int16)).view(torch.bfloat16).to(device)


def t_fp8(codes, device):
    return torch.from_numpy(np.ascontiguousarray(codes)).view(torch.float8_e4m3fn).to(device)


def t_(a, device):
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def n_(t):
    """Any tensor -> NumPy on the host: bf16 as uint16 bits, fp8 as uint8 codes."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).cpu().numpy().view(np.uint16)
    if t.dtype == torch.float8_e4m3fn:
        return t.view(torch.uint8).cpu().numpy()
    return t.cpu().numpy()


def same_bits(a, b):
    return np.array_equal(n_(a).view(np.uint8), n_(b).view(np.uint8))


class TorchCases:
    """Every op on torch tensors of self.device, checked against the oracle, run twice."""

    device = None

    def setUp(self):
        self.rng = np.random.default_rng(7)

    def twice(self, fn):
        """fn() twice: the results must be bitwise identical (SPEC: determinism)."""
        a, b = fn(), fn()
        for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            self.assertTrue(same_bits(x, y), "rerun differs")
        return a

    def test_quantization(self):
        x = (self.rng.standard_normal((3, 256)) * 20).astype(np.float32)
        xt = t_(x, self.device)
        q, s = self.twice(lambda: dsa.quantize_fp8(xt))
        self.assertEqual(q.dtype, torch.float8_e4m3fn)
        self.assertEqual(q.device, xt.device)
        rq, rs = ref.quantize(x.astype(np.float64))
        np.testing.assert_array_equal(n_(q), rq)
        np.testing.assert_array_equal(n_(s), rs)
        out = dsa.dequantize_fp8(q, s, out_dtype="bf16")
        self.assertEqual(out.dtype, torch.bfloat16)
        expect = ref.e4m3_value(rq) * np.repeat(rs.astype(np.float64), 128, axis=-1)
        np.testing.assert_array_equal(n_(out), ref.bf16_bits(expect.astype(np.float32)))

    def test_caches(self):
        pages, P = 3, 8
        rows = (self.rng.standard_normal((pages * P, 576)) * 2).astype(np.float32)
        slots = np.arange(pages * P, dtype=np.int32)[::-1].copy()
        slots[3] = -1
        cache = torch.zeros((pages, P, 656), dtype=torch.uint8, device=self.device)
        got = dsa.kv_cache_write(t_bf16(ref.bf16_bits(rows), self.device), t_(slots, self.device), cache)
        self.assertIs(got, cache)
        vals = ref.bf16_value(ref.bf16_bits(rows))
        np.testing.assert_array_equal(n_(cache), ref.kv_cache_write(np.zeros((pages, P, 656), np.uint8), vals, slots))
        out = dsa.kv_cache_read(cache, t_(slots, self.device))
        for r in (0, 5, 23):
            np.testing.assert_array_equal(n_(out)[r], ref.kv_cache_row(n_(cache), slots[r]).astype(np.float32))
        icache = torch.zeros((2, 16, 132), dtype=torch.uint8, device=self.device)
        keys = self.rng.standard_normal((32, 128)).astype(np.float32)
        dsa.index_cache_write(t_(keys, self.device), t_(np.arange(32, dtype=np.int32), self.device), icache)
        np.testing.assert_array_equal(n_(icache), ref.index_cache_write(
            np.zeros((2, 16, 132), np.uint8), keys.astype(np.float64), np.arange(32)))

    def test_indexer(self):
        S, H, Skv = 9, 8, 300
        q, k = fp8_codes(self.rng, (S, H, 128)), fp8_codes(self.rng, (Skv, 128))
        k_scale = (2.0 ** self.rng.integers(-4, 3, Skv)).astype(np.float32)
        w = self.rng.standard_normal((S, H)).astype(np.float32)
        ks = np.array([0, 3, 10, -5, 60, 20, 0, 299, 5], np.int32)
        ke = np.array([300, 9, 10, 8, 999, 10, 1, 300, 264], np.int32)
        d = self.device
        logits = self.twice(lambda: dsa.indexer_logits(t_fp8(q, d), t_fp8(k, d), t_(w, d), t_(ks, d), t_(ke, d),
                                                        k_scale=t_(k_scale, d)))
        expect = ref.indexer_logits(ref.e4m3_value(q), ref.e4m3_value(k), k_scale.astype(np.float64),
                                    w.astype(np.float64), ks, ke)
        got = n_(logits)
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expect))
        self.assertLessEqual(ref.diff(got, expect), 5e-6)
        # DeepGEMM's call on the same data
        dg = dsa.fp8_mqa_logits(t_fp8(q, d), (t_fp8(k, d), t_(k_scale, d)), t_(w, d), t_(ks, d), t_(ke, d))
        self.assertTrue(same_bits(dg, logits))

    def test_indexer_decode(self):
        B, N, H, P, pages, M = 3, 2, 8, 16, 10, 100
        d = self.device
        cache = torch.zeros((pages, P, 132), dtype=torch.uint8, device=d)
        dsa.index_cache_write(t_(self.rng.standard_normal((pages * P, 128)).astype(np.float32), d),
                              t_(np.arange(pages * P, dtype=np.int32), d), cache)
        q = fp8_codes(self.rng, (B, N, H, 128))
        w = self.rng.standard_normal((B * N, H)).astype(np.float32)
        lens = np.array([45, 100, 1], np.int32)
        table = np.array([[4, 1, 99, 0, 2, 3, 5], [3, -1, 5, 0, 1, 6, 7], [9, 8, 7, 6, 5, 4, 3]], np.int32)
        logits = self.twice(lambda: dsa.indexer_decode_logits(t_fp8(q, d), cache, t_(w, d), t_(lens, d),
                                                               t_(table, d), M))
        expect = ref.indexer_decode_logits(ref.e4m3_value(q), n_(cache), w.astype(np.float64), lens, table, M)
        got = n_(logits)
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expect))
        self.assertLessEqual(ref.diff(got, expect), 5e-6)
        dg = dsa.fp8_paged_mqa_logits(t_fp8(q, d), cache.view(pages, P, 1, 132), t_(w, d), t_(lens, d),
                                      t_(table, d), dsa.get_paged_mqa_logits_metadata(t_(lens, d), P, 132), M)
        self.assertTrue(same_bits(dg, logits))

    def test_topk(self):
        S, L, k = 5, 3000, 64
        x = (self.rng.integers(-50, 50, size=(S, L)) * 0.5).astype(np.float32)
        x[0, :7] = (np.nan, -np.inf, np.inf, -0.0, 0.0, np.nan, -np.inf)
        ks = np.array([0, 100, 2990, 7, 50], np.int32)
        ke = np.array([3000, 2000, 3000, 7, 9999], np.int32)
        d = self.device
        big = t_(np.zeros((S, L + 32), np.float32), d)
        big[:, :L] = t_(x, d)
        scores = big[:, :L]  # padded row stride
        idx = self.twice(lambda: dsa.topk(scores, k, t_(ks, d), t_(ke, d), sorted=True))
        expect = ref.topk(x.astype(np.float64), k, ks, ke)
        got = n_(idx)
        for i, (lo, cols) in enumerate(expect):
            self.assertEqual(list(got[i][:len(cols)]), cols, "row %d" % i)
            self.assertTrue((got[i][len(cols):] == -1).all())
        rel = n_(dsa.topk(scores, k, t_(ks, d), t_(ke, d), form="relative"))
        for i, (lo, cols) in enumerate(expect):
            self.assertEqual(sorted(rel[i][:len(cols)]), sorted(j - lo for j in cols))

    def test_sparse_mla_prefill(self):
        S, Hq, Skv, topk = 6, 16, 200, 77
        qb, qv = bf16_of(self.rng, (S, Hq, 576), 0.5)
        kvb, kvv = bf16_of(self.rng, (Skv, 1, 576), 0.5)
        idx = self.rng.integers(0, 150, size=(S, 1, topk)).astype(np.int32)
        idx[0, 0, :4] = (-1, -2147483648, Skv, 2147483647)
        idx[2, 0, :] = -1
        kvb[150:], kvv[150:] = 0x7FC0, np.nan  # never selected: NaN
        tl = np.array([77, 10, 77, 0, 50, 77], np.int32)
        sink = self.rng.standard_normal(Hq).astype(np.float32)
        d = self.device
        out, ml, lse = self.twice(lambda: dsa.flash_mla_sparse_fwd(
            t_bf16(qb, d), t_bf16(kvb, d), t_(idx, d), SM_SCALE, attn_sink=t_(sink, d), topk_length=t_(tl, d)))
        eo, eml, el = ref.sparse_mla_prefill(qv, kvv, idx, SM_SCALE, tl, sink.astype(np.float64))
        got = ref.bf16_value(n_(out))
        err = np.abs(got - eo)
        self.assertTrue(((err <= 8e-4) | (err <= 3.01 / 128 * np.abs(eo))).all(), "max error %g" % err.max())
        self.assertLessEqual(ref.diff(got, eo), 7e-6)
        for g, e in ((n_(ml), eml), (n_(lse), el)):
            np.testing.assert_array_equal(np.isinf(g), np.isinf(e))
            f = np.isfinite(e)
            err = np.abs(g[f] - e[f])
            self.assertTrue(((err <= 1e-6) | (err <= 2.01 / 65536 * np.abs(e[f]))).all())

    def test_sparse_mla_decode(self):
        B, Sq, Hq, topk, P, pages = 2, 2, 16, 50, 64, 3
        d = self.device
        cache = torch.zeros((pages, P, 656), dtype=torch.uint8, device=d)
        dsa.kv_cache_write(t_(self.rng.standard_normal((pages * P, 576)).astype(np.float32), d),
                           t_(np.arange(pages * P, dtype=np.int32), d), cache)
        qb, qv = bf16_of(self.rng, (B, Sq, Hq, 576), 0.5)
        idx = self.rng.integers(0, pages * P, size=(B, Sq, topk)).astype(np.int32)
        idx[1, 0, :3] = (-1, pages * P, 2147483647)
        tl = np.array([50, 17], np.int32)
        meta, _ = dsa.get_mla_metadata()
        fp8_view = cache.view(torch.float8_e4m3fn).view(pages, P, 1, 656)  # as FlashMLA's callers hold it
        out, lse = self.twice(lambda: dsa.flash_mla_with_kvcache(
            t_bf16(qb, d), fp8_view, None, None, 512, meta, softmax_scale=SM_SCALE, is_fp8_kvcache=True,
            indices=t_(idx, d), topk_length=t_(tl, d)))
        self.assertEqual(tuple(lse.shape), (B, Hq, Sq))
        eo, el = ref.sparse_mla_decode(qv, n_(cache), idx, SM_SCALE, tl)
        got = ref.bf16_value(n_(out))
        err = np.abs(got - eo)
        self.assertTrue(((err <= 1e-3) | (err <= 2.01 / 128 * np.abs(eo))).all(), "max error %g" % err.max())
        self.assertLessEqual(ref.diff(got, eo), 5e-6)
        e = np.abs(n_(lse) - el)
        self.assertTrue(((e <= 1e-6) | (e <= 8.01 / 65536 * np.abs(el))).all())

    def test_bad_input(self):
        x = torch.ones((2, 100), device=self.device)
        with self.assertRaises(dsa.DsaError) as cm:
            dsa.quantize_fp8(x)
        self.assertEqual(cm.exception.name, "DSA_ERROR_BAD_SHAPE")
        with self.assertRaises(dsa.DsaError) as cm:
            dsa.quantize_fp8(torch.ones((2, 128), dtype=torch.float64, device=self.device))
        self.assertEqual(cm.exception.name, "DSA_ERROR_BAD_DTYPE")
        with self.assertRaises(dsa.DsaError):
            dsa.quantize_fp8(torch.ones((2, 128), device=self.device).t())  # innermost stride not 1


@unittest.skipIf(torch is None, "PyTorch is not installed")
class TestTorchCPU(TorchCases, unittest.TestCase):
    device = "cpu"


@unittest.skipIf(not HAVE_CUDA, "no PyTorch with a CUDA device")
class TestTorchCUDA(TorchCases, unittest.TestCase):
    device = "cuda"

    def test_mixed_devices_refused(self):
        with self.assertRaises(dsa.DsaError) as cm:
            q = torch.zeros((1, 128), dtype=torch.uint8, device="cuda").view(torch.float8_e4m3fn)
            dsa.dequantize_fp8(q, torch.ones((1, 1)))
        self.assertEqual(cm.exception.name, "DSA_ERROR_WRONG_CONTEXT")

    def test_explicit_context(self):
        """A context of the library's own stream: the caller orders work itself."""
        x = torch.randn((4, 128), device="cuda")
        torch.cuda.synchronize()
        with dsa.Context("cuda:0") as ctx:
            self.assertEqual(ctx.device.backend, "cuda")
            q, s = dsa.quantize_fp8(x, ctx=ctx)
            ctx.synchronize()
            rq, rs = ref.quantize(n_(x).astype(np.float64))
            np.testing.assert_array_equal(n_(q), rq)

    def _ordered_on(self, stream):
        """On `stream`: a long sleep, then the input is written, then dsa reads it, then torch reads
        the output. Any op not ordered on `stream` would see the input before it was written."""
        x = (self.rng.standard_normal((64, 1024)) * 5).astype(np.float32)
        src = t_(x, "cuda")
        torch.cuda.synchronize()  # src was written on the default stream
        rq, rs = ref.quantize(x.astype(np.float64))
        with torch.cuda.stream(stream):
            dsa.quantize_fp8(src)  # warm-up: kernels loaded, workspace sized
            stream.synchronize()
            inp = torch.zeros_like(src)
            q = torch.empty(src.shape, dtype=torch.float8_e4m3fn, device="cuda")
            s = torch.empty((64, 8), dtype=torch.float32, device="cuda")
            start = time.perf_counter()
            torch.cuda._sleep(int(2e9))  # ~1 s of GPU clock cycles on the stream
            inp.copy_(src)
            dsa.quantize_fp8(inp, q=q, scales=s)
            enqueue_s = time.perf_counter() - start
            q_bytes = q.view(torch.uint8).clone()  # consumed on the same stream
            s_copy = s.clone()
            host_q, host_s = n_(q_bytes), n_(s_copy)  # copied on the stream; .cpu() waits for it
        np.testing.assert_array_equal(host_q, rq)
        np.testing.assert_array_equal(host_s, rs)
        return enqueue_s

    def test_ordered_on_a_non_default_stream(self):
        s = torch.cuda.Stream()
        enqueue_s = self._ordered_on(s)
        # The call only enqueued: it returned while the sleep was still running on the GPU.
        self.assertLess(enqueue_s, 0.5, "the dsa call waited for the stream (%.3f s)" % enqueue_s)

    def test_ordered_on_the_default_stream(self):
        self._ordered_on(torch.cuda.default_stream())

    def test_two_streams_two_contexts(self):
        """Each stream gets its own libdsa context (and workspace); results agree."""
        x = t_(self.rng.standard_normal((8, 256)).astype(np.float32), "cuda")
        torch.cuda.synchronize()
        outs = []
        for st in (torch.cuda.Stream(), torch.cuda.Stream()):
            with torch.cuda.stream(st):
                outs.append(dsa.quantize_fp8(x)[0])
        torch.cuda.synchronize()
        self.assertTrue(same_bits(outs[0], outs[1]))


@unittest.skipIf(torch is None, "PyTorch is not installed")
class TestDocExample(unittest.TestCase):
    def test_worked_example_of_docs_python_md(self):
        """docs/python.md's example, run as written (CUDA where there is a GPU, else the CPU)."""
        with open(os.path.join(HERE, "..", "..", "docs", "python.md")) as f:
            text = f.read()
        start = text.index("```python\n", text.index("## Worked example")) + len("```python\n")
        code = text[start:text.index("```", start)]
        env = {}
        exec(compile(code, "docs/python.md", "exec"), env)
        out, lse, slots = env["out"], env["lse"], env["slots"]
        self.assertEqual(tuple(out.shape), (2, 1, 16, 512))
        self.assertEqual(tuple(lse.shape), (2, 16, 1))
        s = n_(slots)
        self.assertTrue((s[1, 77:] == -1).all() and (s[1, :77] >= 0).all(), "77 tokens, then padding")
        self.assertTrue(np.isfinite(n_(lse)).all())


if __name__ == "__main__":
    if torch is None:
        print("test_torch_cuda.py: skipped: PyTorch is not installed for %s" % sys.executable)
    elif not HAVE_CUDA:
        print("test_torch_cuda.py: CUDA cases skipped: torch.cuda.is_available() is False")
    unittest.main()
