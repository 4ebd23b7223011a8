#!/usr/bin/env python3
"""End-to-end checks of the `dsa` command, the way a user drives it.

    python3 tests/cli/test_cli.py PATH/TO/dsa [unittest options]

`dsa run` is exercised on NumPy .npy files and its outputs are compared with references written
here from docs/ops.md (never with libdsa or its oracle): top-k key order and forms, the FP8 group
quantization rule and its inverse, and sparse MLA prefill in float64. Bad input must make the
command exit non-zero with a message naming the problem, never crash. `dsa devices` and
`dsa conformance` are checked for what they promise: the CPU device, reasons for missing backends,
JSON and Markdown reports, and a clean failure for an unknown device.

Needs NumPy (Debian: python3-numpy, installed by scripts/setup.sh).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
except ImportError:
    sys.stderr.write("test_cli.py: NumPy is missing for %s; install python3-numpy "
                     "(scripts/setup.sh does) and re-run cmake\n" % sys.executable)
    sys.exit(1)

DSA = None  # the dsa executable, from the command line
TIMEOUT_S = 60


def run_dsa(*args):
    """Runs dsa with args; returns the CompletedProcess (text output)."""
    return subprocess.run([DSA] + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=TIMEOUT_S)


def describe(p):
    return "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)


class DsaTestCase(unittest.TestCase):
    """A scratch directory per test and a helper that runs one op on arrays."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="dsa-cli-")
        self.tmp = self._tmp.name
        self.count = 0

    def tearDown(self):
        self._tmp.cleanup()

    def run_op(self, op, inputs, sets=(), dtypes=(), expect_ok=True):
        """Saves inputs (name -> array) as DIR/name.npy, runs `dsa run`, loads every output."""
        self.count += 1
        in_dir = os.path.join(self.tmp, "in%d" % self.count)
        out_dir = os.path.join(self.tmp, "out%d" % self.count)
        os.mkdir(in_dir)
        for name, arr in inputs.items():
            np.save(os.path.join(in_dir, name + ".npy"), arr)
        args = ["run", "--op", op, "--in", in_dir, "--out", out_dir, "--device", "cpu"]
        for s in sets:
            args += ["--set", s]
        for d in dtypes:
            args += ["--dtype", d]
        p = run_dsa(*args)
        if not expect_ok:
            return p
        self.assertEqual(p.returncode, 0, describe(p))
        outs = {}
        for f in sorted(os.listdir(out_dir)):
            if f.endswith(".npy"):
                outs[f[:-4]] = np.load(os.path.join(out_dir, f))
        return outs

    def assertCleanFailure(self, p, *words):
        """A non-zero exit that is not a signal, with every word in the message (stderr)."""
        self.assertNotEqual(p.returncode, 0, describe(p))
        self.assertGreater(p.returncode, 0, "killed by a signal: " + describe(p))
        self.assertLess(p.returncode, 128, "exit status of a crash: " + describe(p))
        for w in words:
            self.assertIn(w, p.stderr, describe(p))


# ---- dtypes, from docs/ops.md ----------------------------------------------------------------

def bf16_encode(x):
    """float32 -> bf16 bits (uint16), round to nearest even (inputs here hold no NaN)."""
    b = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return b.astype(np.uint16)


def bf16_decode(bits):
    """bf16 bits -> float64 (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def e4m3_decode(codes):
    """OCP E4M3FN codes -> float64: bias 7, subnormals m * 2^-9, 0x7F/0xFF NaN, no infinities."""
    c = np.asarray(codes, dtype=np.uint8).astype(np.int64)
    sign = np.where(c & 0x80, -1.0, 1.0)
    e = (c >> 3) & 0xF
    m = (c & 7).astype(np.float64)
    mag = np.where(e == 0, np.ldexp(m, -9), np.ldexp(1.0 + m / 8.0, (e - 7).astype(np.int32)))
    mag = np.where((c & 0x7F) == 0x7F, np.nan, mag)
    return sign * mag


def e4m3_half_ulp(y):
    """Half the spacing of E4M3 codes around |y| (|y| <= 448): 2^-9 below 2^-6, else 2^(E-3)."""
    a = np.abs(y)
    _, e = np.frexp(np.where(a > 0, a, 1.0))  # a = f * 2^e, f in [0.5, 1): floor(log2 a) = e - 1
    ulp = np.where(a < 2.0 ** -6, 2.0 ** -9, np.ldexp(1.0, (e - 1 - 3).astype(np.int32)))
    return ulp / 2


def scale_reference(group):
    """docs/ops.md: amax over finite values, at least 1e-4; s = smallest 2^e with amax <= 448 * 2^e."""
    g = np.asarray(group, dtype=np.float64)
    fin = np.abs(g[np.isfinite(g)])
    amax = max(fin.max() if fin.size else 0.0, 1e-4)
    e = int(np.ceil(np.log2(amax / 448.0)))
    while np.ldexp(448.0, e - 1) >= amax:
        e -= 1
    while np.ldexp(448.0, e) < amax:
        e += 1
    return np.ldexp(1.0, e)


# ---- top-k ---------------------------------------------------------------------------------

def topk_reference(row, lo, hi, k):
    """Columns of row[lo:hi] best first under docs/ops.md's key order: NaN < -inf < numbers < inf,
    +0 == -0, equal keys rank the lower column higher. Returns at most k columns."""
    cols = np.arange(lo, hi)
    v = row[lo:hi]  # float32: no cast, so signalling NaNs stay quiet
    cls = np.where(np.isnan(v), 0, np.where(v == -np.inf, 1, np.where(v == np.inf, 3, 2)))
    val = np.where(cls == 2, v, 0).astype(np.float64) + 0.0  # +0.0 turns -0.0 into +0.0
    order = np.lexsort((cols, -val, -cls))  # last key first: class, then value, both descending
    return cols[order][:k]


def make_scores(rng, S, L):
    """fp32 scores with many ties, signed zeros, NaNs of several payloads and both infinities."""
    x = (rng.integers(-6, 7, size=(S, L)) * 0.5).astype(np.float32)
    bits = x.view(np.uint32)
    nan_bits = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFBADBAD, 0x7FC12345], dtype=np.uint32)
    pick = rng.random((S, L))
    bits[pick < 0.06] = rng.choice(nan_bits, size=int((pick < 0.06).sum()))
    bits[(pick >= 0.06) & (pick < 0.10)] = 0xFF800000  # -inf
    bits[(pick >= 0.10) & (pick < 0.12)] = 0x7F800000  # +inf
    bits[(pick >= 0.12) & (pick < 0.20)] = 0x80000000  # -0.0
    bits[(pick >= 0.20) & (pick < 0.26)] = 0x00000000  # +0.0
    bits[0, :] = rng.choice(nan_bits, size=L)  # a row of NaNs only
    bits[1, : L // 2] = 0x80000000  # a row of zeros of both signs, then -inf and NaN
    bits[1, L // 2:] = 0x00000000
    bits[1, ::7] = 0xFF800000
    bits[1, ::11] = 0x7FC00000
    return x


class TopkTest(DsaTestCase):
    S, L = 14, 300

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(20240611)
        self.scores = make_scores(rng, self.S, self.L)
        ks = rng.integers(-20, self.L, size=self.S).astype(np.int32)
        ke = (ks + rng.integers(-5, 200, size=self.S)).astype(np.int32)
        # Rows with a special range: whole row, past the end, negative, empty (ks > ke, ks == ke),
        # and narrower than most k (so -1 padding appears).
        special = [(0, self.L), (-50, self.L + 50), (250, 1000), (-30, 10), (40, 20), (77, 77), (100, 105)]
        for i, (a, b) in enumerate(special):
            ks[i + 2], ke[i + 2] = a, b
        self.ks, self.ke = ks, ke

    def ranges(self):
        lo = np.clip(self.ks, 0, self.L)
        hi = np.clip(self.ke, 0, self.L)
        return lo, np.maximum(hi, lo)

    def check(self, got, lo, hi, k, form, sorted_):
        self.assertEqual(got.dtype, np.int32)
        self.assertEqual(got.shape, (self.S, k))
        for i in range(self.S):
            ref = topk_reference(self.scores[i], lo[i], hi[i], k)
            m = len(ref)
            if form == "relative":
                ref = ref - lo[i]
            where = "row %d, range [%d, %d), k=%d, form=%s, sorted=%d" % (i, lo[i], hi[i], k, form, sorted_)
            self.assertTrue(np.all(got[i, m:] == -1), "padding: " + where)
            if sorted_:
                np.testing.assert_array_equal(got[i, :m], ref, err_msg="order: " + where)
            else:
                self.assertEqual(len(set(got[i, :m].tolist())), m, "duplicates: " + where)
                self.assertEqual(set(got[i, :m].tolist()), set(ref.tolist()), "set: " + where)

    def test_ranges_forms_sorted(self):
        lo, hi = self.ranges()
        inputs = {"scores": self.scores, "ks": self.ks, "ke": self.ke}
        for k in (1, 37, 333):
            for form in ("absolute", "relative"):
                for sorted_ in (0, 1):
                    out = self.run_op("topk", inputs, ["k=%d" % k, "form=" + form, "sorted=%d" % sorted_])
                    self.check(out["indices"], lo, hi, k, form, sorted_)

    def test_whole_row_and_lengths(self):
        zero = np.zeros(self.S, dtype=np.int64)
        out = self.run_op("topk", {"scores": self.scores}, ["k=64", "sorted=1"])
        self.check(out["indices"], zero, zero + self.L, 64, "absolute", 1)
        lengths = np.linspace(-10, self.L + 10, self.S).astype(np.int32)
        out = self.run_op("topk", {"scores": self.scores, "lengths": lengths}, ["k=50", "sorted=1"])
        self.check(out["indices"], zero, np.clip(lengths, 0, self.L), 50, "absolute", 1)


# ---- FP8 quantization ----------------------------------------------------------------------

def make_quant_input(rng):
    """[6, 512] fp32: 24 groups of 128 of several kinds (ordinary, tiny, huge, amax at and next to
    448 * 2^e, exact ties between codes, negatives that round to zero, NaN and infinities)."""
    rows, groups = 6, 4
    x = np.zeros((rows * groups, 128), dtype=np.float32)
    for g in range(rows * groups):
        kind = g % 8
        e = int(rng.integers(-10, 10))
        if kind == 0:
            v = rng.standard_normal(128) * 2.0 ** e
        elif kind == 1:  # amax < 1e-4: the scale floor
            v = rng.standard_normal(128) * 1e-6
            v[::5] = -0.0
        elif kind == 2:
            v = rng.standard_normal(128) * 1e30
        elif kind == 3:  # amax exactly 448 * 2^e, or one fp32 step above / below
            v = (rng.random(128) * 2 - 1) * 400 * 2.0 ** e
            top = np.float32(448 * 2.0 ** e)
            v[int(rng.integers(0, 128))] = [top, np.nextafter(top, np.float32(np.inf)),
                                            -np.nextafter(top, np.float32(0))][g // 8 % 3]
        elif kind == 4:  # midpoints between adjacent codes, scale 2^e fixed by 448 * 2^e
            c = rng.integers(0, 0x7E, size=128)
            v = (e4m3_decode(c) + e4m3_decode(c + 1)) / 2 * 2.0 ** e * rng.choice([-1, 1], size=128)
            v[0] = 448 * 2.0 ** e
        elif kind == 5:  # negatives that round to zero, the tie at half the smallest subnormal
            v = np.resize([-2.0 ** -11, -2.0 ** -10, 2.0 ** -10, -2.0 ** -20, -0.0, 3 * 2.0 ** -11], 128) * 2.0 ** e
            v[3] = 448 * 2.0 ** e
        elif kind == 6:  # NaN and infinities among ordinary values
            v = rng.standard_normal(128)
            v[rng.integers(0, 128, size=12)] = [np.nan, -np.nan, np.inf, -np.inf] * 3
        else:  # only NaN and infinities
            v = np.resize([np.nan, np.inf, -np.inf, -np.nan], 128)
        x[g] = v
    return x.reshape(rows, groups * 128)


class QuantizeTest(DsaTestCase):
    def test_quantize_dequantize_fp32(self):
        x = make_quant_input(np.random.default_rng(7))
        out = self.run_op("quantize_fp8", {"x": x})
        q, scales = out["q"], out["scales"]
        self.assertEqual((q.dtype, q.shape), (np.uint8, x.shape))
        self.assertEqual((scales.dtype, scales.shape), (np.float32, (x.shape[0], x.shape[1] // 128)))

        xg = x.reshape(-1, 128).astype(np.float64)
        qg = q.reshape(-1, 128)
        ref_s = np.array([scale_reference(g) for g in xg])
        np.testing.assert_array_equal(scales.reshape(-1).astype(np.float64), ref_s, "scales: power-of-two rule")

        s = ref_s[:, None]
        d = e4m3_decode(qg)
        nan = np.isnan(xg)
        # NaN encodes as 0x7F with the input's sign; everything else keeps its sign (even at zero).
        np.testing.assert_array_equal(qg[nan], np.where(np.signbit(xg[nan]), 0xFF, 0x7F), "NaN codes")
        np.testing.assert_array_equal((qg >> 7).astype(bool), np.signbit(xg), "code signs")
        y = np.clip(xg[~nan] / s.repeat(128, 1)[~nan], -448, 448)  # infinities saturate
        dv = d[~nan]
        self.assertFalse(np.isnan(dv).any(), "a finite input encoded as NaN")
        err = np.abs(dv - y)
        half = e4m3_half_ulp(y)
        bad = err > half
        self.assertFalse(bad.any(), "codes off by more than half an fp8 ulp: x/s=%s decoded=%s"
                         % (y[bad][:5], dv[bad][:5]))
        ties = err == half  # round to nearest even: the code of a tie is even
        self.assertTrue(np.all(qg[~nan][ties] % 2 == 0), "ties not rounded to even")

        # Back again: q * s exactly, in fp32 and in bf16 (exact: a code has 4 significant bits).
        back = self.run_op("dequantize_fp8", {"q": q, "scales": scales})["out"]
        self.assertEqual((back.dtype, back.shape), (np.float32, x.shape))
        want = (d * s).astype(np.float32).reshape(x.shape)
        wn = np.isnan(want)
        np.testing.assert_array_equal(np.isnan(back), wn, "dequantized NaN pattern")
        np.testing.assert_array_equal(back.view(np.uint32)[~wn], want.view(np.uint32)[~wn], "dequantized fp32")
        back16 = self.run_op("dequantize_fp8", {"q": q, "scales": scales}, dtypes=["out=bf16"])["out"]
        self.assertEqual((back16.dtype, back16.shape), (np.uint16, x.shape))
        np.testing.assert_array_equal(np.isnan(bf16_decode(back16)), wn, "dequantized bf16 NaN pattern")
        np.testing.assert_array_equal(back16[~wn], bf16_encode(want)[~wn], "dequantized bf16")


# ---- sparse MLA prefill --------------------------------------------------------------------

def prefill_reference(q, kv, indices, sm_scale, topk_length=None, sink=None):
    """docs/ops.md section 3 in float64 on the bf16 inputs: out [S, Hq, 512], max_logits, lse."""
    S, Hq, _ = q.shape
    topk = indices.shape[2]
    out = np.zeros((S, Hq, 512))
    ml = np.full((S, Hq), -np.inf)
    lse = np.full((S, Hq), np.inf)
    for i in range(S):
        n = topk if topk_length is None else min(max(int(topk_length[i]), 0), topk)
        idx = indices[i, 0, :n].astype(np.int64)
        idx = idx[(idx >= 0) & (idx < kv.shape[0])]  # duplicates count each time
        if idx.size == 0:
            continue
        rows = kv[idx, 0, :]
        p = q[i] @ rows.T * sm_scale  # [Hq, m]
        ml[i] = p.max(axis=1)
        lse[i] = ml[i] + np.log(np.exp(p - ml[i][:, None]).sum(axis=1))
        out[i] = np.exp(p - lse[i][:, None]) @ rows[:, :512]
        if sink is not None:
            out[i] *= (1.0 / (1.0 + np.exp(sink.astype(np.float64) - lse[i])))[:, None]
    return out, ml, lse


class PrefillTest(DsaTestCase):
    def within(self, got, ref, atol, rtol, what):
        """Each element within atol absolute or rtol relative; inf/NaN patterns equal."""
        fin = np.isfinite(ref)
        np.testing.assert_array_equal(np.isfinite(got), fin, what + ": finite pattern")
        np.testing.assert_array_equal(got[~fin], ref[~fin], what + ": inf values")
        d = np.abs(got[fin] - ref[fin])
        ok = (d <= atol) | (d <= rtol * np.abs(ref[fin]))
        self.assertTrue(ok.all(), "%s: %d element(s) off, worst %g at ref %g" % (
            what, (~ok).sum(), d.max(), ref[fin][np.argmax(d)] if d.size else 0))

    def case(self, rng, S, Hq, Dqk, Skv, topk, sm_scale, extras):
        q16 = bf16_encode(rng.standard_normal((S, Hq, Dqk)).astype(np.float32))
        kv16 = bf16_encode(rng.standard_normal((Skv, 1, Dqk)).astype(np.float32))
        idx = rng.integers(0, Skv, size=(S, 1, topk)).astype(np.int32)
        idx[:, 0, 1] = idx[:, 0, 0]  # duplicates
        bad = np.array([-1, Skv, 2 ** 31 - 1, -2 ** 31], dtype=np.int32)
        idx[:, 0, 2::5] = bad[np.arange(idx[:, 0, 2::5].size) % 4].reshape(idx[:, 0, 2::5].shape)
        idx[S - 1, 0, :] = bad[np.arange(topk) % 4]  # a row with no valid entry
        inputs = {"q": q16, "kv": kv16, "indices": idx}
        tl = sink = None
        if extras:
            tl = np.array([topk, 3, -2, topk + 9, 0, topk // 2][:S], dtype=np.int32)
            sink = (rng.standard_normal(Hq) * 2).astype(np.float32)
            inputs.update(topk_length=tl, attn_sink=sink)
        out = self.run_op("sparse_mla_prefill", inputs, ["sm_scale=%r" % sm_scale])
        self.assertEqual((out["out"].dtype, out["out"].shape), (np.uint16, (S, Hq, 512)))
        for name in ("max_logits", "lse"):
            self.assertEqual((out[name].dtype, out[name].shape), (np.float32, (S, Hq)))
        ref_o, ref_ml, ref_lse = prefill_reference(bf16_decode(q16), bf16_decode(kv16), idx,
                                                   float(np.float32(sm_scale)), tl, sink)
        got_o = bf16_decode(out["out"])
        self.within(got_o, ref_o, 8e-4, 3.01 / 128, "out")
        self.within(out["lse"].astype(np.float64), ref_lse, 1e-6, 2.01 / 65536, "lse")
        self.within(out["max_logits"].astype(np.float64), ref_ml, 1e-6, 2.01 / 65536, "max_logits")
        fin = np.isfinite(ref_o) & np.isfinite(got_o)
        den = (ref_o[fin] ** 2 + got_o[fin] ** 2).sum()
        diff = 1 - 2 * (ref_o[fin] * got_o[fin]).sum() / den if den > 0 else 0.0
        self.assertLessEqual(diff, 7e-6, "diff(out)")

    def test_bf16_round_trip(self):
        rng = np.random.default_rng(99)
        self.case(rng, S=5, Hq=3, Dqk=576, Skv=60, topk=16, sm_scale=0.0625, extras=False)
        self.case(rng, S=6, Hq=4, Dqk=512, Skv=33, topk=11, sm_scale=0.044194173, extras=True)


# ---- bad input -----------------------------------------------------------------------------

class BadInputTest(DsaTestCase):
    def topk_dir(self, scores):
        d = os.path.join(self.tmp, "bad%d" % self.count)
        self.count += 1
        os.mkdir(d)
        if isinstance(scores, bytes):
            with open(os.path.join(d, "scores.npy"), "wb") as f:
                f.write(scores)
        elif scores is not None:
            np.save(os.path.join(d, "scores.npy"), scores)
        return d

    def topk(self, d):
        return run_dsa("run", "--op", "topk", "--in", d, "--out", os.path.join(self.tmp, "o"),
                       "--device", "cpu", "--set", "k=4")

    def test_malformed_npy(self):
        self.assertCleanFailure(self.topk(self.topk_dir(b"this is not a numpy file at all\n")), "scores.npy")
        good = os.path.join(self.tmp, "good.npy")
        np.save(good, np.zeros((3, 40), dtype=np.float32))
        with open(good, "rb") as f:
            data = f.read()
        self.assertCleanFailure(self.topk(self.topk_dir(data[:-20])), "scores.npy", "truncated")
        self.assertCleanFailure(self.topk(self.topk_dir(data[:30])), "scores.npy")  # header cut
        self.assertCleanFailure(self.topk(self.topk_dir(b"")), "scores.npy")

    def test_missing_input(self):
        self.assertCleanFailure(self.topk(self.topk_dir(None)), "scores", "missing")
        q = bf16_encode(np.ones((2, 1, 576), dtype=np.float32))
        idx = np.zeros((2, 1, 4), dtype=np.int32)
        p = self.run_op("sparse_mla_prefill", {"q": q, "indices": idx}, ["sm_scale=0.1"], expect_ok=False)
        self.assertCleanFailure(p, "kv.npy", "missing")

    def test_wrong_dtype(self):
        self.assertCleanFailure(self.topk(self.topk_dir(np.zeros((2, 9), dtype=np.float64))), "scores.npy", "<f8")
        self.assertCleanFailure(self.topk(self.topk_dir(np.zeros((2, 9), dtype=np.int32))), "scores", "fp32")
        p = self.run_op("topk", {"scores": np.zeros((2, 9), np.float32), "ks": np.zeros(2, np.int64),
                                 "ke": np.ones(2, np.int64)}, ["k=2"], expect_ok=False)
        self.assertCleanFailure(p, "ks.npy", "<i8")


# ---- devices and conformance ---------------------------------------------------------------

class DevicesConformanceTest(DsaTestCase):
    def test_devices(self):
        p = run_dsa("devices")
        self.assertEqual(p.returncode, 0, describe(p))
        self.assertRegex(p.stdout, r"(?m)^\s*\d+\s+cpu:0\s", describe(p))
        m = re.search(r"(?m)^cuda: unavailable: (.*)$", p.stdout)
        self.assertIsNotNone(m, "no reason given for cuda: " + describe(p))
        self.assertTrue(m.group(1).strip() and m.group(1).strip() != "(no reason given)", describe(p))

    def test_conformance_reports(self):
        v = run_dsa("--version")
        self.assertEqual(v.returncode, 0, describe(v))
        version = re.search(r"\(libdsa\) (\S+)", v.stdout).group(1)
        jf, mf = os.path.join(self.tmp, "r.json"), os.path.join(self.tmp, "r.md")
        p = run_dsa("conformance", "--device", "cpu", "--quick", "--op", "quantize_fp8", "--json", jf, "--report", mf)
        self.assertEqual(p.returncode, 0, describe(p))
        with open(jf) as f:
            doc = json.load(f)
        self.assertEqual(doc["library_version"], version)
        self.assertEqual(len(doc["devices"]), 1)
        dev = doc["devices"][0]
        self.assertEqual(dev["device"]["selector"], "cpu")
        self.assertGreater(len(dev["cases"]), 0)
        for c in dev["cases"]:
            self.assertEqual(c["op"], "quantize_fp8")
            self.assertEqual(c["status"], "PASS", c)
            self.assertTrue(all(m["ok"] for m in c["metrics"]), c)
        self.assertEqual(dev["summary"]["passed"], len(dev["cases"]))
        self.assertEqual(dev["summary"]["failed"] + dev["summary"]["errors"], 0)
        with open(mf) as f:
            md = f.read()
        self.assertIn("cpu", md)
        self.assertIn(version, md)
        self.assertIn(dev["device"]["name"], md)

    def test_conformance_unknown_device(self):
        p = run_dsa("conformance", "--device", "nosuch:0", "--quick", "--op", "quantize_fp8")
        self.assertCleanFailure(p, "nosuch")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.stderr.write("usage: test_cli.py PATH/TO/dsa [unittest options]\n")
        sys.exit(2)
    DSA = os.path.abspath(sys.argv.pop(1))
    if not os.access(DSA, os.X_OK):
        sys.stderr.write("test_cli.py: %s is not an executable\n" % DSA)
        sys.exit(2)
    unittest.main(verbosity=2)
