#!/usr/bin/env python3
"""GPU benchmark: each libdsa op next to its PyTorch peer, on the same inputs, in one run.

    python3 perf/gpu/bench.py [--reps 20] [--ops prefill,decode,indexer,topk,topk_small]
                              [--json FILE] [--table FILE.md] [--opencl DSA_TOOL]

libdsa is called through the Python binding (python/dsa) on PyTorch CUDA tensors, so both sides
read the very same device memory and run on the same stream. Timing: CUDA events around one call,
after warm-up, median of --reps runs (at least 10). Before each timed call the stream is kept
busy with torch.cuda._sleep, so the host's time to enqueue (Python, argument checks) is hidden
and the events measure device time only. Work is counted with perf/formulas.c's rules
(sparse MLA: 2*Hq*(Dqk+Dv) per valid selected row; indexer: (2*H*D + 2*H) per causal pair; top-k
and decode bytes as in perf/README.md) and shown as a fraction of the H100 SXM's limits.
Each side's output is also compared (SPEC.md's diff measure, or set equality for top-k), as a check
that the two computed the same thing.
With --opencl, `dsa bench --device opencl:nvidia --gpu-shapes` runs in the same job (wall clock
around synchronize: OpenCL has no CUDA events) and its numbers join the table.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import dsa  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

H100 = {"bf16_tflops": 989.0, "fp8_tflops": 1979.0, "hbm_tbs": 3.35}


def timed(fn, reps, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda._sleep(2_000_000)  # about 1 ms of device time: the enqueue below hides behind it
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times), times


def diff(x, y):
    x, y = x.double().flatten(), y.double().flatten()
    ok = torch.isfinite(x) & torch.isfinite(y)
    x, y = x[ok], y[ok]
    den = (x * x + y * y).sum().item()
    return 0.0 if den == 0 else 1.0 - 2.0 * (x * y).sum().item() / den


def case_prefill(reps):
    S, Hq, D, topk, Skv = 4096, 128, 576, 2048, 65536
    g = torch.Generator(device="cuda").manual_seed(1)
    q = (torch.randn(S, Hq, D, device="cuda", generator=g) * 0.5).to(torch.bfloat16)
    kv = (torch.randn(Skv, 1, D, device="cuda", generator=g) * 0.5).to(torch.bfloat16)
    idx = torch.randint(0, Skv, (S, 1, topk), device="cuda", dtype=torch.int32, generator=g)
    scale = D ** -0.5
    out = torch.empty(S, Hq, 512, device="cuda", dtype=torch.bfloat16)
    ml = torch.empty(S, Hq, device="cuda")
    lse = torch.empty(S, Hq, device="cuda")
    lib = timed(lambda: dsa.sparse_mla_prefill(q, kv, idx, scale, out=out, max_logits=ml, lse=lse), reps)
    res = {}
    peer = timed(lambda: res.__setitem__("p", peers.sparse_mla_prefill(q, kv, idx, scale)), max(3, reps // 4), 1)
    flops = 2.0 * Hq * (D + 512) * S * topk
    check = "out diff %.2e, lse diff %.2e" % (diff(out, res["p"][0]), diff(lse, res["p"][1]))
    return dict(op="sparse_mla_prefill", shape="S=%d Hq=%d Dqk=%d topk=%d Skv=%d" % (S, Hq, D, topk, Skv),
                unit="TFLOPS", work=flops, lib=lib, peer=peer, limit=H100["bf16_tflops"], target=300.0, check=check)


def case_decode(reps):
    B, Sq, Hq, topk, ctx, P = 128, 2, 128, 2048, 32768, 64
    g = torch.Generator(device="cuda").manual_seed(2)
    pages = B * ctx // P
    cache = torch.empty(pages, P, 656, dtype=torch.uint8, device="cuda")
    lat = (torch.randn(pages, P, 512, device="cuda", generator=g) * 8).to(torch.float8_e4m3fn)
    cache[..., :512] = lat.view(torch.uint8)
    sc = torch.full((pages, P, 4), 2.0 ** -4, device="cuda")
    cache[..., 512:528] = sc.view(torch.uint8)
    rope = (torch.randn(pages, P, 64, device="cuda", generator=g) * 0.5).to(torch.bfloat16)
    cache[..., 528:] = rope.view(torch.uint8)
    q = (torch.randn(B, Sq, Hq, 576, device="cuda", generator=g) * 0.5).to(torch.bfloat16)
    tok = torch.randint(0, ctx, (B, Sq, topk), device="cuda", dtype=torch.int32, generator=g)
    slots = tok + (torch.arange(B, device="cuda", dtype=torch.int32) * ctx)[:, None, None]
    scale = 576 ** -0.5
    out = torch.empty(B, Sq, Hq, 512, device="cuda", dtype=torch.bfloat16)
    lse = torch.empty(B, Hq, Sq, device="cuda")
    lib = timed(lambda: dsa.sparse_mla_decode(q, cache, slots, scale, out=out, lse=lse), reps)
    res = {}
    peer = timed(lambda: res.__setitem__("p", peers.sparse_mla_decode(q, cache, slots, scale)), max(3, reps // 4), 1)
    flops = 2.0 * Hq * (576 + 512) * B * Sq * topk
    check = "out diff %.2e, lse diff %.2e" % (diff(out, res["p"][0]), diff(lse, res["p"][1]))
    return dict(op="sparse_mla_decode", shape="B=%d Sq=%d Hq=%d topk=%d ctx=%d page=%d" % (B, Sq, Hq, topk, ctx, P),
                unit="TFLOPS", work=flops, lib=lib, peer=peer, limit=H100["bf16_tflops"], target=200.0, check=check)


def case_indexer(reps):
    S, H, D, Skv = 4096, 64, 128, 65536
    g = torch.Generator(device="cuda").manual_seed(3)
    q = torch.randn(S, H, D, device="cuda", generator=g).to(torch.float8_e4m3fn)
    k = torch.randn(Skv, D, device="cuda", generator=g).to(torch.float8_e4m3fn)
    k_scale = torch.full((Skv,), 2.0 ** -3, device="cuda")
    w = torch.randn(S, H, device="cuda", generator=g) * 0.1
    ks = torch.zeros(S, dtype=torch.int32, device="cuda")
    ke = torch.arange(Skv - S + 1, Skv + 1, dtype=torch.int32, device="cuda")  # causal: the last S positions
    logits = torch.empty(S, Skv, device="cuda")
    lib = timed(lambda: dsa.indexer_logits(q, k, w, ks, ke, k_scale=k_scale, logits=logits), reps)
    res = {}
    peer = timed(lambda: res.__setitem__("p", peers.indexer_logits(q, k, k_scale, w, ks, ke, chunk=128)),
                 max(3, reps // 4), 1)
    pairs = float((ke - ks).clamp(min=0).sum().item())
    work = (2.0 * H * D + 2.0 * H) * pairs
    check = "logits diff %.2e" % diff(logits, res["p"])
    return dict(op="indexer_logits", shape="fp8 S=%d H=%d D=%d Skv=%d causal" % (S, H, D, Skv), unit="TFLOPS",
                work=work, lib=lib, peer=peer, limit=H100["fp8_tflops"], target=400.0,
                peer_note="bf16 dense over all Skv (GPU.md's peer); work counted on the causal pairs", check=check)


def case_topk(reps, rows):
    L, k = 131072, 2048
    g = torch.Generator(device="cuda").manual_seed(4)
    scores = torch.randn(rows, L, device="cuda", generator=g)
    idx = torch.empty(rows, k, dtype=torch.int32, device="cuda")
    lib = timed(lambda: dsa.topk(scores, k, indices=idx), reps)
    res = {}
    peer = timed(lambda: res.__setitem__("p", peers.topk(scores, k)), reps)
    a = torch.sort(idx.long(), dim=1).values
    b = torch.sort(res["p"], dim=1).values
    same = int((a == b).all(dim=1).sum().item())
    work = 4.0 * rows * L + 4.0 * rows * k
    target = 6.6 / 2 if rows == 4096 else 0.100
    return dict(op="topk", shape="%d x %d fp32, k=%d" % (rows, L, k), unit="GB/s", work=work, lib=lib, peer=peer,
                limit=H100["hbm_tbs"] * 1000, target_ms=target,
                check="%d of %d rows select the same set as torch.topk (random normal scores: ties are rare)"
                % (same, rows))


def rate(work, ms, unit):
    return work / (ms * 1e-3) / (1e12 if unit == "TFLOPS" else 1e9)


def opencl_rows(tool, out_dir):
    path = os.path.join(out_dir, "opencl-bench.json")
    r = subprocess.run([tool, "bench", "--device", "opencl:nvidia", "--gpu-shapes", "--json", path],
                       capture_output=True, text=True, timeout=900)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    if r.returncode != 0 or not os.path.exists(path):
        return {"error": "dsa bench on opencl:nvidia exited %d" % r.returncode}
    with open(path) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--ops", default="prefill,decode,indexer,topk,topk_small")
    ap.add_argument("--json", default=None)
    ap.add_argument("--table", default=None)
    ap.add_argument("--opencl", default=None, help="path of the dsa tool: also bench opencl:nvidia")
    a = ap.parse_args()
    reps = max(10, a.reps)
    cases = {"prefill": case_prefill, "decode": case_decode, "indexer": case_indexer,
             "topk": lambda r: case_topk(r, 4096), "topk_small": lambda r: case_topk(r, 64)}
    device = torch.cuda.get_device_name()
    results = []
    for name in a.ops.split(","):
        torch.cuda.empty_cache()
        try:
            c = cases[name](reps)
        except Exception as e:  # one failing op must not hide the others' numbers
            print("%s: failed: %s" % (name, e), flush=True)
            results.append({"op": name, "error": str(e)})
            continue
        lib_ms, peer_ms = c["lib"][0], c["peer"][0]
        row = {k: v for k, v in c.items() if k not in ("lib", "peer")}
        row.update(lib_ms=lib_ms, peer_ms=peer_ms, lib_runs_ms=c["lib"][1], peer_runs_ms=c["peer"][1],
                   lib_rate=rate(c["work"], lib_ms, c["unit"]), peer_rate=rate(c["work"], peer_ms, c["unit"]),
                   speedup_vs_peer=peer_ms / lib_ms)
        row["fraction_of_limit"] = row["lib_rate"] / c["limit"]
        if "target" in c:
            row["meets_target"] = row["lib_rate"] >= c["target"]
        else:
            row["meets_target"] = lib_ms <= c["target_ms"]
        results.append(row)
        print("%-19s %-40s libdsa %9.3f ms %8.1f %s (%4.1f%% of limit) | torch %9.3f ms %8.1f | x%.2f | %s"
              % (row["op"], row["shape"], lib_ms, row["lib_rate"], c["unit"], 100 * row["fraction_of_limit"],
                 peer_ms, row["peer_rate"], row["speedup_vs_peer"], row["check"]), flush=True)
    rec = {"device": device, "torch": torch.__version__, "cuda": torch.version.cuda,
           "libdsa": dsa.version(), "commit": os.environ.get("DSA_COMMIT", ""),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "method": "CUDA events around one call after warm-up, stream pre-loaded with torch.cuda._sleep; median "
                     "of %d runs (torch peers of the large ops: %d)" % (reps, max(3, reps // 4)),
           "results": results}
    if a.opencl:
        rec["opencl_nvidia"] = opencl_rows(a.opencl, os.path.dirname(a.json or ".") or ".")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rec, f, indent=1)
    if a.table:
        with open(a.table, "w") as f:
            f.write("# GPU benchmark: libdsa next to PyTorch on %s\n\n" % device)
            f.write("libdsa %s, commit %s, torch %s, CUDA %s, %s. %s.\n\n"
                    % (rec["libdsa"], rec["commit"], rec["torch"], rec["cuda"], rec["date"], rec["method"]))
            f.write("| op | shape | libdsa ms | libdsa rate | of H100 limit | torch ms | torch rate | speed-up | "
                    "target met | check |\n|---|---|---|---|---|---|---|---|---|---|\n")
            for r in results:
                if "error" in r:
                    f.write("| %s | | failed: %s | | | | | | | |\n" % (r["op"], r["error"]))
                    continue
                f.write("| %s | %s | %.3f | %.1f %s | %.1f%% | %.3f | %.1f %s | %.2fx | %s | %s |\n"
                        % (r["op"], r["shape"], r["lib_ms"], r["lib_rate"], r["unit"], 100 * r["fraction_of_limit"],
                           r["peer_ms"], r["peer_rate"], r["unit"], r["speedup_vs_peer"],
                           "yes" if r["meets_target"] else "no", r["check"]))


if __name__ == "__main__":
    main()
