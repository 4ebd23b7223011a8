#!/usr/bin/env python3
"""The Python binding (python/dsa) on the CPU backend with NumPy arrays.

    DSA_LIBRARY=build/libdsa.so python3 tests/python/test_binding.py [unittest options]

Every op against the fp64 oracle of tests/python/oracle.py with SPEC.md's bars; outputs written
into the caller's arrays (no copy); padded-stride views; bad input raising dsa.DsaError with
libdsa's status and message, never a crash; device listing and contexts by selector.
Needs NumPy (Debian: python3-numpy).
"""
import math
import os
import re
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # keep the checkout free of __pycache__ folders
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, HERE)

try:
    import numpy as np
except ImportError:
    sys.stderr.write("test_binding.py: NumPy is missing for %s; install python3-numpy (scripts/setup.sh)\n"
                     % sys.executable)
    sys.exit(1)

import dsa  # noqa: E402
import oracle as ref  # noqa: E402

SM_SCALE = 0.0731  # unusual on purpose (SPEC: test-construction rules)
BAD_SLOTS = (-1, -2147483648, 2147483647)


def fp8_codes(rng, shape):
    """Random finite E4M3 codes (no NaN 0x7F/0xFF), magnitudes up to 2^3."""
    c = rng.integers(0, 0x58, size=shape, dtype=np.uint8)  # exponent <= 10: |v| < 16
    sign = rng.integers(0, 2, size=shape, dtype=np.uint8) << 7
    return (c | sign).astype(np.uint8)


def padded(a, pad=3):
    """The same values in a view whose outer rows are padded (strides larger than packed)."""
    shape = a.shape[:-1] + (a.shape[-1] + pad,)
    big = np.zeros(shape, dtype=a.dtype)
    big[..., :a.shape[-1]] = a
    v = big[..., :a.shape[-1]]
    assert not v.flags["C_CONTIGUOUS"]
    return v


def bf16_of(rng, shape, scale=1.0):
    """(bf16 bits, their float64 values) of random normal numbers."""
    bits = ref.bf16_bits((rng.standard_normal(shape) * scale).astype(np.float32))
    return bits, ref.bf16_value(bits)


class BindingTest(unittest.TestCase):
    def setUp(self):
        self.rng = np.random.default_rng(20251123)

    def assertDsaError(self, status_name, fn, *words):
        """fn() raises DsaError with this status, whose message holds every word."""
        with self.assertRaises(dsa.DsaError) as cm:
            fn()
        e = cm.exception
        self.assertEqual(e.name, status_name, str(e))
        self.assertTrue(e.message, "empty message")
        for w in words:
            self.assertIn(w, e.message)
        return e


class TestLibrary(BindingTest):
    def test_devices_and_selectors(self):
        devs = dsa.devices()
        self.assertTrue(any(d.backend == "cpu" and d.is_cpu for d in devs), devs)
        for d in devs:
            self.assertTrue(d.name)
        ok, reason = dsa.backend_available("cpu")
        self.assertTrue(ok, reason)
        # Every listed device opens by the selector that names it, as in the C API.
        for d in devs:
            if d.backend == "cpu":
                with dsa.Context(d.selector) as ctx:
                    self.assertEqual(ctx.device.backend, "cpu")
                    ctx.synchronize()
        self.assertDsaError("DSA_ERROR_BAD_SELECTOR", lambda: dsa.Context("nonsense:1:2"))
        with self.assertRaises(dsa.DsaError) as cm:
            dsa.Context("cuda:7")
        self.assertIn(cm.exception.name, ("DSA_ERROR_NO_DEVICE", "DSA_ERROR_BACKEND_UNAVAILABLE"))
        self.assertEqual(dsa.version(), "0.1.0")

    def test_structures_match_header(self):
        """Each ctypes structure of the binding has api/dsa.h's fields in api/dsa.h's order."""
        from dsa import _lib
        with open(os.path.join(HERE, "..", "..", "api", "dsa.h")) as f:
            header = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
        structs = {"dsa_tensor": _lib.Tensor, "dsa_device_info": _lib.DeviceInfoStruct,
                   "dsa_context_desc": _lib.ContextDesc}
        for _, (_, struct, fn) in _lib.OPS.items():
            arg = re.search(r"%s\(dsa_context \*ctx, const (\w+) \*args" % fn, header)
            self.assertIsNotNone(arg, fn)
            structs[arg.group(1)] = struct
        for cname, struct in structs.items():
            body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (cname, cname), header, re.S)
            self.assertIsNotNone(body, cname)
            fields = re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*;", body.group(1))
            ours = [f[0] for f in struct._fields_ if not f[0].startswith("_")]
            if cname == "dsa_device_info" and "features" not in fields:
                ours.remove("features")  # the binding may know a field the library adds next
            self.assertEqual(ours, fields, cname)

    def test_closed_context(self):
        ctx = dsa.Context("cpu")
        ctx.close()
        ctx.close()  # twice is harmless
        x = np.ones((1, 128), np.float32)
        self.assertDsaError("DSA_ERROR_INVALID_ARGUMENT", lambda: dsa.quantize_fp8(x, ctx=ctx), "closed")

    def test_library_not_found_names_paths(self):
        env = dict(os.environ, DSA_LIBRARY="/nonexistent/libdsa.so")
        p = subprocess.run([sys.executable, "-c", "import dsa; dsa.devices()"], env=env,
                           cwd=os.path.join(HERE, "..", "..", "python"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("LibraryNotFoundError", p.stderr)
        self.assertIn("/nonexistent/libdsa.so", p.stderr)


class TestQuantization(BindingTest):
    def test_quantize_dequantize_bit_exact(self):
        x = (self.rng.standard_normal((3, 256)) * np.array([[1e-3], [5.0], [300.0]])).astype(np.float32)
        x[1, 7], x[2, 200] = -0.0, np.nan
        q, s = dsa.quantize_fp8(padded(x))
        rq, rs = ref.quantize(x.astype(np.float64))
        self.assertEqual(q.dtype, np.uint8)
        np.testing.assert_array_equal(s, rs)
        np.testing.assert_array_equal(q, rq)
        out = dsa.dequantize_fp8(dsa.tensor(q, "fp8"), s)
        expect = ref.e4m3_value(rq) * np.repeat(rs.astype(np.float64), 128, axis=-1)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(expect))
        m = ~np.isnan(expect)
        np.testing.assert_array_equal(out[m], expect[m].astype(np.float32))
        bf = dsa.dequantize_fp8(dsa.tensor(q, "fp8"), s, out_dtype="bf16")
        self.assertEqual(bf.dtype, np.uint16)
        np.testing.assert_array_equal(bf[m.reshape(bf.shape)], ref.bf16_bits(expect[m].astype(np.float32)))

    def test_bf16_input(self):
        bits, vals = bf16_of(self.rng, (2, 128), 40.0)
        q, s = dsa.quantize_fp8(dsa.tensor(bits, "bf16"))
        rq, rs = ref.quantize(vals)
        np.testing.assert_array_equal(q, rq)
        np.testing.assert_array_equal(s, rs)

    def test_outputs_written_in_place(self):
        x = self.rng.standard_normal((4, 128)).astype(np.float32)
        q_big = np.full((4, 200), 0xEE, np.uint8)
        q = q_big[:, 10:138]  # a strided window of a bigger array
        s = np.zeros((4, 1), np.float32)
        rq, rs = dsa.quantize_fp8(x, q=dsa.tensor(q, "fp8"), scales=s)
        self.assertIs(rq, q)
        self.assertIs(rs, s)
        eq, es = ref.quantize(x.astype(np.float64))
        np.testing.assert_array_equal(q_big[:, 10:138], eq)  # written through the caller's memory
        np.testing.assert_array_equal(s, es)
        self.assertTrue((q_big[:, :10] == 0xEE).all() and (q_big[:, 138:] == 0xEE).all(), "wrote outside the view")


class TestCaches(BindingTest):
    def test_kv_cache_write_and_read(self):
        pages, P, N = 3, 4, 7
        rows = (self.rng.standard_normal((N, 576)) * 3).astype(np.float32)
        slots = np.array([0, 5, 11, 5, -1, 12, 2147483647], np.int32)  # repeats and invalid ones
        cache = np.full((pages, P, 656), 0xAB, np.uint8)
        got = dsa.kv_cache_write(padded(rows), slots, cache)
        self.assertIs(got, cache)
        expect = ref.kv_cache_write(np.full((pages, P, 656), 0xAB, np.uint8), rows.astype(np.float64), slots)
        np.testing.assert_array_equal(cache, expect)
        out = dsa.kv_cache_read(cache, slots)
        for r, s in enumerate(slots):
            if 0 <= s < pages * P:
                np.testing.assert_array_equal(out[r], ref.kv_cache_row(cache, s).astype(np.float32))
            else:
                self.assertTrue((out[r] == 0).all(), "row of an invalid slot changed")

    def test_index_cache_write_and_read(self):
        pages, P, N = 2, 8, 5
        bits, vals = bf16_of(self.rng, (N, 128), 2.0)
        slots = np.array([3, 15, 0, 16, -2], np.int32)
        cache = np.zeros((pages, P, 132), np.uint8)
        dsa.index_cache_write(dsa.tensor(bits, "bf16"), slots, cache)
        np.testing.assert_array_equal(cache, ref.index_cache_write(np.zeros((pages, P, 132), np.uint8), vals, slots))
        out = dsa.index_cache_read(cache, slots, out_dtype="fp32")
        for r, s in enumerate(slots):
            if 0 <= s < pages * P:
                key, scale = ref.index_cache_key(cache, s)
                np.testing.assert_array_equal(out[r], (key * scale).astype(np.float32))


class TestIndexer(BindingTest):
    def check_logits(self, got, expect):
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expect))
        self.assertLessEqual(ref.diff(got, expect), 5e-6)

    def test_fp8_prefill(self):
        S, H, Skv = 9, 4, 70
        q, k = fp8_codes(self.rng, (S, H, 128)), fp8_codes(self.rng, (Skv, 128))
        k_scale = (2.0 ** self.rng.integers(-4, 3, Skv)).astype(np.float32)
        w = self.rng.standard_normal((S, H)).astype(np.float32)
        ks = np.array([0, 3, 10, -5, 60, 20, 0, 69, 5], np.int32)
        ke = np.array([70, 9, 10, 8, 200, 10, 1, 70, 64], np.int32)  # empty, clamped and reversed ranges
        logits = dsa.indexer_logits(dsa.tensor(padded(q), "fp8"), dsa.tensor(k, "fp8"), padded(w), ks, ke,
                                    k_scale=k_scale)
        expect = ref.indexer_logits(ref.e4m3_value(q), ref.e4m3_value(k), k_scale.astype(np.float64),
                                    w.astype(np.float64), ks, ke)
        self.check_logits(logits, expect)

    def test_bf16_and_fp32_prefill_into_padded_logits(self):
        S, H, Skv = 5, 3, 33
        qb, qv = bf16_of(self.rng, (S, H, 128))
        kb, kv = bf16_of(self.rng, (Skv, 128))
        w = self.rng.standard_normal((S, H)).astype(np.float32)
        ks, ke = np.zeros(S, np.int32), np.array([33, 1, 17, 0, 32], np.int32)
        big = np.full((S, Skv + 5), 7.0, np.float32)
        logits = big[:, :Skv]
        dsa.indexer_logits(dsa.tensor(qb, "bf16"), dsa.tensor(kb, "bf16"), w, ks, ke, logits=logits)
        expect = ref.indexer_logits(qv, kv, np.ones(Skv), w.astype(np.float64), ks, ke)
        self.check_logits(logits, expect)
        self.assertTrue((big[:, Skv:] == 7.0).all(), "wrote into the row padding")
        got = dsa.indexer_logits(qv.astype(np.float32), kv.astype(np.float32), w, ks, ke)
        self.check_logits(got, expect)

    def test_paged_decode(self):
        B, N, H, P, pages, M = 2, 2, 4, 16, 6, 70
        keys = self.rng.standard_normal((pages * P, 128)).astype(np.float32)
        cache = np.zeros((pages, P, 132), np.uint8)
        dsa.index_cache_write(keys, np.arange(pages * P, dtype=np.int32), cache)
        q = fp8_codes(self.rng, (B, N, H, 128))
        w = self.rng.standard_normal((B * N, H)).astype(np.float32)
        lens = np.array([45, 70], np.int32)
        table = np.array([[4, 1, 99, 0, 2], [3, -1, 5, 0, 1]], np.int32)  # unmapped pages included
        logits = dsa.indexer_decode_logits(dsa.tensor(q, "fp8"), cache, w, lens, table, max_context_len=M)
        expect = ref.indexer_decode_logits(ref.e4m3_value(q), cache, w.astype(np.float64), lens, table, M)
        self.check_logits(logits, expect)


class TestTopk(BindingTest):
    def scores(self, S, L):
        x = (self.rng.integers(-5, 6, size=(S, L)) * 0.25).astype(np.float32)
        flat = x.reshape(-1)
        for v in (np.nan, -np.inf, np.inf, -0.0):
            flat[self.rng.integers(0, flat.size, 6)] = v
        return x

    def check(self, got, expect_rows, k, transform=lambda lo, j: j):
        for i, (lo, cols) in enumerate(expect_rows):
            row = list(got[i])
            m = len(cols)
            self.assertEqual(sorted(row[:m]), sorted(transform(lo, j) for j in cols), "row %d" % i)
            self.assertEqual(row[m:], [-1] * (k - m), "row %d padding" % i)

    def test_ranges_forms_and_sorting(self):
        S, L, k = 6, 50, 9
        x = self.scores(S, L)
        ks = np.array([0, 10, 45, 30, -4, 7], np.int32)
        ke = np.array([50, 20, 49, 30, 3, 100], np.int32)
        expect = ref.topk(x.astype(np.float64), k, ks, ke)
        self.check(dsa.topk(padded(x), k, ks, ke), expect, k)
        self.check(dsa.topk(x, k, ks, ke, form="relative"), expect, k, lambda lo, j: j - lo)
        got = dsa.topk(x, k, ks, ke, sorted=True)
        for i, (lo, cols) in enumerate(expect):
            self.assertEqual(list(got[i][:len(cols)]), cols, "sorted row %d" % i)
        lengths = np.array([50, 0, 3, 60, -1, 20], np.int32)
        self.check(dsa.topk(x, k, lengths=lengths), ref.topk(x.astype(np.float64), k, lengths=lengths), k)

    def test_slot_form(self):
        S, L, k, P = 4, 40, 12, 8
        x = self.scores(S, L)
        table = np.array([[3, 0, -1, 7, 2], [1, 4, 6, 5, 2]], np.int32)  # B = 2: rows 0-1, 2-3
        expect = ref.topk(x.astype(np.float64), k)
        got = dsa.topk(x, k, form="slot", block_table=table, page_size=P)

        def slot_of(i):
            def f(lo, j):
                p = int(table[i // 2, j // P])
                return -1 if p < 0 else p * P + j % P
            return f

        for i, (lo, cols) in enumerate(expect):
            self.assertEqual(sorted(got[i]), sorted(slot_of(i)(lo, j) for j in cols))


class TestSparseMLA(BindingTest):
    def check_out(self, got_bits, expect, abs_tol, rel_tol, diff_bar):
        got = ref.bf16_value(got_bits)
        err = np.abs(got - expect)
        ok = (err <= abs_tol) | (err <= rel_tol * np.abs(expect))
        self.assertTrue(ok.all(), "max error %g" % err.max())
        self.assertLessEqual(ref.diff(got, expect), diff_bar)

    def check_stat(self, got, expect, rel_tol):
        np.testing.assert_array_equal(np.isinf(got), np.isinf(expect))
        f = np.isfinite(expect)
        err = np.abs(got[f] - expect[f])
        self.assertTrue(((err <= 1e-6) | (err <= rel_tol * np.abs(expect[f]))).all(), "max error %g" % err.max())

    def test_prefill(self):
        S, Hq, Skv, topk = 5, 4, 60, 23
        qb, qv = bf16_of(self.rng, (S, Hq, 576), 0.5)
        kvb, kvv = bf16_of(self.rng, (Skv, 1, 576), 0.5)
        idx = self.rng.integers(0, 40, size=(S, 1, topk)).astype(np.int32)
        idx[0, 0, :4] = (-1, -2147483648, Skv, 2147483647)
        idx[1, 0, 5] = idx[1, 0, 6]  # a duplicate counts twice
        idx[3, 0, :] = -1            # a row with nothing valid
        kvb[40:] = 0x7FC0            # rows never selected are NaN: reading one would show
        kvv[40:] = np.nan
        tl = np.array([23, 10, 0, 23, 7], np.int32)
        sink = np.array([0.5, -1.0, 2.0, -np.inf], np.float32)
        out, ml, lse = dsa.sparse_mla_prefill(dsa.tensor(padded(qb), "bf16"), dsa.tensor(kvb, "bf16"), idx,
                                              SM_SCALE, topk_length=tl, attn_sink=sink)
        eo, eml, else_ = ref.sparse_mla_prefill(qv, kvv, idx, SM_SCALE, tl, sink.astype(np.float64))
        self.check_out(out, eo, 8e-4, 3.01 / 128, 7e-6)
        self.check_stat(ml, eml, 2.01 / 65536)
        self.check_stat(lse, else_, 2.01 / 65536)
        self.assertTrue((out[2] == 0).all() and (out[3] == 0).all(), "empty rows give 0")

    def test_decode(self):
        B, Sq, Hq, topk, P, pages = 2, 2, 4, 20, 16, 4
        rows = (self.rng.standard_normal((pages * P, 576)) * 0.7).astype(np.float32)
        cache = np.zeros((pages, P, 656), np.uint8)
        dsa.kv_cache_write(rows, np.arange(pages * P, dtype=np.int32), cache)
        qb, qv = bf16_of(self.rng, (B, Sq, Hq, 576), 0.5)
        idx = self.rng.integers(0, pages * P, size=(B, Sq, topk)).astype(np.int32)
        idx[0, 1, :3] = BAD_SLOTS
        tl = np.array([20, 9], np.int32)
        out, lse = dsa.sparse_mla_decode(dsa.tensor(qb, "bf16"), cache, idx, SM_SCALE, topk_length=tl)
        eo, else_ = ref.sparse_mla_decode(qv, cache, idx, SM_SCALE, tl)
        self.check_out(out, eo, 1e-3, 2.01 / 128, 5e-6)
        self.check_stat(lse, else_, 8.01 / 65536)

    def test_flash_mla_and_deep_gemm_signatures(self):
        """The compatible entry points give the plain ones' results on the same data."""
        S, Hq, Skv, topk = 3, 2, 20, 8
        qb, _ = bf16_of(self.rng, (S, Hq, 512))
        kvb, _ = bf16_of(self.rng, (Skv, 1, 512))
        idx = self.rng.integers(-1, Skv, size=(S, 1, topk)).astype(np.int32)
        a = dsa.flash_mla_sparse_fwd(dsa.tensor(qb, "bf16"), dsa.tensor(kvb, "bf16"), idx, 0.1)
        b = dsa.sparse_mla_prefill(dsa.tensor(qb, "bf16"), dsa.tensor(kvb, "bf16"), idx, 0.1)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
        self.assertDsaError("DSA_ERROR_UNSUPPORTED", lambda: dsa.flash_mla_sparse_fwd(
            dsa.tensor(qb, "bf16"), dsa.tensor(kvb, "bf16"), idx, 0.1, indexer_topk=512), "indexer_topk")
        # decode: FlashMLA's 4-D cache [blocks, page, 1, 656] and its float8 byte view
        P, pages = 4, 3
        cache = np.zeros((pages, P, 656), np.uint8)
        dsa.kv_cache_write(self.rng.standard_normal((pages * P, 576)).astype(np.float32),
                           np.arange(pages * P, dtype=np.int32), cache)
        q4, _ = bf16_of(self.rng, (2, 1, Hq, 576))
        slots = self.rng.integers(0, pages * P, size=(2, 1, 5)).astype(np.int32)
        meta, _ = dsa.get_mla_metadata()
        o1, l1 = dsa.flash_mla_with_kvcache(dsa.tensor(q4, "bf16"), cache.reshape(pages, P, 1, 656), None, None, 512,
                                            meta, softmax_scale=0.2, is_fp8_kvcache=True, indices=slots)
        o2, l2 = dsa.sparse_mla_decode(dsa.tensor(q4, "bf16"), cache, slots, 0.2)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(l1, l2)
        # DeepGEMM: kv as (k, k_scale), caches with their head dimension of 1
        q, k = fp8_codes(self.rng, (4, 2, 128)), fp8_codes(self.rng, (10, 128))
        ksc, w = np.ones(10, np.float32), self.rng.standard_normal((4, 2)).astype(np.float32)
        ks, ke = np.zeros(4, np.int32), np.array([10, 3, 0, 7], np.int32)
        l1 = dsa.fp8_mqa_logits(dsa.tensor(q, "fp8"), (dsa.tensor(k, "fp8"), ksc), w, ks, ke)
        l2 = dsa.indexer_logits(dsa.tensor(q, "fp8"), dsa.tensor(k, "fp8"), w, ks, ke, k_scale=ksc)
        np.testing.assert_array_equal(l1, l2)
        icache = np.zeros((2, 8, 132), np.uint8)
        dsa.index_cache_write(self.rng.standard_normal((16, 128)).astype(np.float32), np.arange(16, dtype=np.int32),
                              icache)
        qd, wd = fp8_codes(self.rng, (2, 1, 2, 128)), self.rng.standard_normal((2, 2)).astype(np.float32)
        lens, table = np.array([9, 16], np.int32), np.array([[1, 0], [0, 1]], np.int32)
        meta = dsa.get_paged_mqa_logits_metadata(lens, 8, 132)
        l1 = dsa.fp8_paged_mqa_logits(dsa.tensor(qd, "fp8"), icache.reshape(2, 8, 1, 132), wd, lens, table, meta, 16)
        l2 = dsa.indexer_decode_logits(dsa.tensor(qd, "fp8"), icache, wd, lens, table, 16)
        np.testing.assert_array_equal(l1, l2)


class TestBadInput(BindingTest):
    """Every mistake is a DsaError naming the problem; nothing crashes, nothing is written."""

    def test_libdsa_validation_reaches_python(self):
        x = np.ones((2, 128), np.float32)
        e = self.assertDsaError("DSA_ERROR_BAD_DTYPE",
                                lambda: dsa.quantize_fp8(x, q=np.zeros((2, 128), np.float32)), "q")
        self.assertEqual(e.status, 102)
        self.assertEqual(e.kind, "invalid argument")
        self.assertDsaError("DSA_ERROR_BAD_SHAPE", lambda: dsa.topk(np.zeros((3, 8), np.float32), 2,
                                                                    indices=np.zeros((4, 2), np.int32)), "indices")
        self.assertDsaError("DSA_ERROR_BAD_STRIDE", lambda: dsa.topk(np.zeros((3, 8), np.float32)[:, ::2], 2))
        self.assertDsaError("DSA_ERROR_BAD_STRIDE", lambda: dsa.topk(np.zeros((3, 8), np.float32)[::-1], 2))
        self.assertDsaError("DSA_ERROR_INVALID_ARGUMENT", lambda: dsa.topk(np.zeros((3, 8), np.float32), 0), "k")
        self.assertDsaError("DSA_ERROR_INVALID_ARGUMENT",
                            lambda: dsa.sparse_mla_prefill(dsa.tensor(np.zeros((1, 1, 512), np.uint16), "bf16"),
                                                           dsa.tensor(np.zeros((1, 1, 512), np.uint16), "bf16"),
                                                           np.zeros((1, 1, 1), np.int32), math.inf), "sm_scale")

    def test_aliasing_output(self):
        base = np.zeros((4, 64), np.int32)
        scores = base.view(np.float32)
        self.assertDsaError("DSA_ERROR_ALIASING", lambda: dsa.topk(scores, 8, indices=base[:, :8]))
        self.assertTrue((base == 0).all(), "written despite the error")

    def test_binding_refusals(self):
        x = np.ones((2, 128), np.float32)
        self.assertDsaError("DSA_ERROR_INVALID_ARGUMENT", lambda: dsa.quantize_fp8([[1.0] * 128]), "x")
        self.assertDsaError("DSA_ERROR_BAD_SHAPE", lambda: dsa.quantize_fp8(np.ones((1, 1, 1, 1, 128), np.float32)))
        self.assertDsaError("DSA_ERROR_BAD_DTYPE", lambda: dsa.quantize_fp8(np.ones((2, 128), np.float64)), "x")
        self.assertDsaError("DSA_ERROR_BAD_DTYPE", lambda: dsa.quantize_fp8(np.ones((2, 128), np.uint16)), "bf16")
        self.assertDsaError("DSA_ERROR_BAD_DTYPE", lambda: dsa.tensor(x, "fp64"))
        raw = np.zeros(4 * 256 + 1, np.uint8)
        odd = np.frombuffer(raw.data, dtype=np.float32, count=256, offset=1).reshape(2, 128)
        self.assertDsaError("DSA_ERROR_INVALID_ARGUMENT", lambda: dsa.quantize_fp8(odd), "x", "element size")
        self.assertDsaError("DSA_ERROR_BAD_DTYPE", lambda: dsa.quantize_fp8(dsa.tensor(x, "bf16")), "bf16")
        self.assertDsaError("DSA_ERROR_INVALID_ARGUMENT", lambda: dsa.topk(x, 1, form="sideways"), "form")
        self.assertDsaError("DSA_ERROR_INVALID_ARGUMENT", lambda: dsa.indexer_decode_logits(
            x, x, x, x, x), "max_context_len")
        self.assertDsaError("DSA_ERROR_INVALID_ARGUMENT", lambda: dsa.fp8_mqa_logits(x, x, x, x, x), "kv")
        self.assertDsaError("DSA_ERROR_UNSUPPORTED", lambda: dsa.fp8_mqa_logits(x, (x, x), x, x, x, max_seqlen_k=4))
        self.assertDsaError("DSA_ERROR_UNSUPPORTED", lambda: dsa.flash_mla_with_kvcache(
            x, x, x, x, 512, None), "dense")
        # Host arrays cannot run on a context whose device cannot read host memory in place.
        others = [d for d in dsa.devices() if d.backend != "cpu"]
        if others:
            with dsa.Context(others[0].selector) as ctx:
                self.assertDsaError("DSA_ERROR_WRONG_CONTEXT", lambda: dsa.quantize_fp8(x, ctx=ctx), "x")

    def test_assorted_garbage_never_crashes(self):
        """Each op with each argument replaced by something wrong: always a DsaError."""
        good = {
            "q": dsa.tensor(np.zeros((2, 2, 576), np.uint16), "bf16"),
            "kv": dsa.tensor(np.zeros((4, 1, 576), np.uint16), "bf16"),
            "indices": np.zeros((2, 1, 3), np.int32),
        }
        wrong = [None, 3, "text", np.zeros(()), np.zeros((0,), np.float32), np.zeros((2, 2, 2, 2, 2), np.int32),
                 np.zeros((2, 3), np.int32), dsa.tensor(np.zeros((5, 5), np.uint16), "bf16"),
                 np.zeros((2, 1, 3), np.float64)]
        for name in good:
            for w in wrong:
                args = dict(good, **{name: w})
                with self.assertRaises(dsa.DsaError, msg="%s = %r" % (name, w)):
                    dsa.sparse_mla_prefill(args["q"], args["kv"], args["indices"], 0.1)
        # Empty problems are valid and do nothing.
        out, ml, lse = dsa.sparse_mla_prefill(dsa.tensor(np.zeros((0, 2, 576), np.uint16), "bf16"), good["kv"],
                                              np.zeros((0, 1, 3), np.int32), 0.1)
        self.assertEqual(out.shape, (0, 2, 512))


if __name__ == "__main__":
    unittest.main()
