#!/usr/bin/env python3
"""A two-module colocated step through python/mosaic_runtime under green contexts, at two SM splits.

One rank holds one GPU with two slots (the launch contract of a plan with processPer "gpu"): module
`a` and module `b`, each an MLP of bf16 GEMMs (forward + backward). For each split of the SMs, e.g.
a=32/b=96 then a=96/b=32, it measures on each module's own slot stream (CUDA events):
  alone     the module's step with the other slot idle
  together  both modules' steps enqueued at once inside rt.colocated(), running side by side
so each module is seen at two SM counts: its time should track its SM count (a GEMM-bound step at
32 SMs takes about 2.75x as long as at 88). Writes runtime-check.json under --out and prints a table.

--dry-run: the same code on the CPU (slot() is a no-op there), tiny sizes, to check the script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))


def contract_for(split, total_sms, device, hidden, tokens):
    """The launch contract (schemas/launch.schema.json) of one rank with two slots on GPU 0."""
    a, b = split
    slots = [
        {"id": "g0.s0", "smCount": a, "quotaFraction": a / total_sms, "mpsPercentage": max(1, 100 * a // total_sms), "modules": ["a"]},
        {"id": "g0.s1", "smCount": b, "quotaFraction": b / total_sms, "mpsPercentage": max(1, 100 * b // total_sms), "modules": ["b"]},
    ]
    module = lambda name, slot: {  # noqa: E731
        "name": name, "trainable": True, "inputs": [], "outputElementsPerSample": hidden, "group": [0],
        "replicas": [{"index": 0, "rank": 0, "slot": slot, "samples": tokens, "microbatches": [0], "gradientWeight": 1}],
    }
    return {
        "version": 1, "model": "runtime-check", "cluster": "one-gpu", "device": device, "processPer": "gpu", "worldSize": 1,
        "batch": {"global": tokens, "micro": tokens, "microbatches": 1},
        "nodes": [{"node": 0, "ranks": [0]}],
        "modules": [module("a", "g0.s0"), module("b", "g0.s1")],
        "ranks": [{"rank": 0, "node": 0, "localRank": 0, "gpu": 0, "localGpu": 0, "slots": slots,
                   "replicas": [{"module": "a", "index": 0, "slot": "g0.s0"}, {"module": "b", "index": 0, "slot": "g0.s1"}],
                   "sends": [], "receives": []}],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.environ.get("OUT", "out"))
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--splits", default="32:88,88:32", help="SM counts of slot a:b, comma-separated (H100/H200: 15 units of 8 SMs)")
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--tokens", type=int, default=8192)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--reps", type=int, default=10)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    import torch
    import mosaic_runtime as mr

    gpu = torch.cuda.is_available() and not args.dry_run
    if args.dry_run:
        args.hidden, args.tokens, args.layers, args.reps = 64, 128, 2, 2
    device = torch.device("cuda", 0) if gpu else torch.device("cpu")
    dtype = torch.bfloat16 if gpu else torch.float32
    total = torch.cuda.get_device_properties(0).multi_processor_count if gpu else 132
    os.environ["MOSAIC_QUOTA_MODE"] = "green"
    env = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(0) if gpu else "cpu (dry run)", "sms": total,
           "greenContextsInTorch": hasattr(torch.cuda, "green_contexts"), "carveout": hasattr(torch._C, "_set_sm_carveout_experimental"),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "hidden": args.hidden, "tokens": args.tokens, "layers": args.layers}
    print(json.dumps(env), flush=True)

    def mlp():
        torch.manual_seed(0)
        return torch.nn.Sequential(*[torch.nn.Linear(args.hidden, args.hidden, bias=False) for _ in range(args.layers)]).to(device, dtype)

    def step_fn(model, x):
        def run():
            model(x).float().pow(2).mean().backward()
        return run

    def timed(rt, m, fn, reps):
        """Enqueue reps steps of fn on m's slot; returns (start, end) events on that stream."""
        with rt.slot(m) as stream:
            if not gpu:
                t0 = time.perf_counter()
                for _ in range(reps):
                    fn()
                return (t0, time.perf_counter())
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(stream)
            for _ in range(reps):
                fn()
            b.record(stream)
            return (a, b)

    def ms(ev, reps):
        if not gpu:
            return (ev[1] - ev[0]) * 1000 / reps
        ev[1].synchronize()
        return ev[0].elapsed_time(ev[1]) / reps

    results = []
    for split in [tuple(int(x) for x in s.split(":")) for s in args.splits.split(",")]:
        contract = contract_for(split, total, "gpu" if gpu else "cpu", args.hidden, args.tokens)
        rt = mr.Runtime(contract, 0, init_process_group=False)
        if gpu and rt._green is None:
            raise SystemExit(f"green contexts were not created: {rt.quota_note}")
        models = {"a": mlp(), "b": mlp()}
        xs = {m: torch.randn(args.tokens, args.hidden, device=device, dtype=dtype) for m in models}
        fns = {m: step_fn(models[m], xs[m]) for m in models}
        for m in models:  # warm-up: cuBLAS heuristics, allocator
            timed(rt, m, fns[m], 2)
        if gpu:
            torch.cuda.synchronize()
        row = {"split": {"a": split[0], "b": split[1]}, "greenSms": {m: rt.slot_sms(m) for m in models}, "alone": {}, "together": {}}
        for m in models:
            row["alone"][m] = ms(timed(rt, m, fns[m], args.reps), args.reps)
        with rt.colocated():
            evs = {m: timed(rt, m, fns[m], args.reps) for m in models}
        row["together"] = {m: ms(evs[m], args.reps) for m in models}
        results.append(row)
        print(json.dumps(row), flush=True)
        del models, xs, fns, rt
        if gpu:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()

    print("\nmodule  SMs (green)  alone ms  together ms")
    for row in results:
        for m in ("a", "b"):
            print(f"{m:6}  {row['split'][m]:3} ({row['greenSms'][m]:3})  {row['alone'][m]:8.3f}  {row['together'][m]:11.3f}")
    # Does each module's time track its SM count? time ratio between its two SM counts vs the SM ratio.
    summary = {}
    if len(results) >= 2:
        for m in ("a", "b"):
            r0, r1 = results[0], results[1]
            summary[m] = {"sms": [r0["greenSms"][m], r1["greenSms"][m]], "aloneMs": [r0["alone"][m], r1["alone"][m]],
                          "timeRatio": r0["alone"][m] / r1["alone"][m], "smRatio": r1["greenSms"][m] / r0["greenSms"][m]}
            print(f"{m}: {summary[m]['sms'][0]} -> {summary[m]['sms'][1]} SMs: time x{1 / summary[m]['timeRatio']:.2f} (SMs x{summary[m]['smRatio']:.2f})")
    with open(os.path.join(args.out, "runtime-check.json"), "w") as f:
        json.dump({"env": env, "results": results, "summary": summary, "dryRun": args.dry_run}, f, indent=2)
    print("wrote", os.path.join(args.out, "runtime-check.json"))


if __name__ == "__main__":
    main()
