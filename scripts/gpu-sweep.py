#!/usr/bin/env python3
"""GPU measurements the performance model is calibrated and checked against (issue 9).

Run on a machine with one NVIDIA GPU, PyTorch and cuda-bindings (see ../shared/GPU.md):

    python3 scripts/gpu-sweep.py --out "$OUT" [--budget-s 300]

Each measurement is one JSON line in OUT/gpu-sweep.jsonl, written as soon as it is taken, so a run
stopped at its time limit keeps what it measured. Sections (each guarded: one failing loses only itself):

  env          GPU, SM count, driver, torch and CUDA versions, L2 size
  launch       back-to-back launch floor of a tiny kernel: eager, and replayed from a CUDA graph
  bandwidth    achieved memory bandwidth of copy / read (sum) / in-place scale vs SMs in a green context
  gemm-sms     bf16 GEMM time vs SMs in a green context, with and without cuBLAS's SM carve-out
  gemm-waves   bf16 GEMM time on the whole GPU as N grows in steps of 128 (wave quantization)
  attention    scaled_dot_product_attention forward and backward, whole GPU and partitions
  blocks       a ViT-L, a 7B-LLM and a ViT-B layer's training step: alone (whole GPU, half), then two at once
  corun        two partitions of half the SMs each: each op alone, then both at once (interference)
  corun-shared the same pairs on two streams without partitions
  modules      with --model SPEC.json (repeatable): each transformer/mlp module of the spec, forward and
               forward+backward at its micro-batch on 16..128 SMs and all, written as a Mosaic profile
               (OUT/profile-<model>.json, schemas/profile.schema.json) that `mosaic plan --profile` reads

Partitions are green contexts made with the driver API (cuDevSmResourceSplitByCount, cuGreenCtxCreate,
cuGreenCtxStreamCreate), the streams handed to PyTorch with torch.cuda.get_stream_from_external.
Times come from CUDA events around `reps` back-to-back launches on the measured stream; a point is the
median of three such batches after warm-up.

`--dry-run` checks the arguments and prints the plan of sections without touching a GPU.
"""

import argparse
import json
import os
import sys
import time
import traceback

SECTIONS = ['env', 'launch', 'bandwidth', 'gemm-sms', 'gemm-waves', 'attention', 'blocks', 'corun', 'corun-shared', 'modules']
MODULE_SMS = [16, 32, 48, 64, 96, 128]
SM_POINTS = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128]


class Recorder:
    def __init__(self, out_dir):
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, 'gpu-sweep.jsonl')
        self.f = open(self.path, 'a', encoding='utf-8')

    def put(self, section, **fields):
        rec = {'section': section, **fields}
        self.f.write(json.dumps(rec) + '\n')
        self.f.flush()
        print(json.dumps(rec), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.environ.get('OUT', 'out'), help='folder for gpu-sweep.jsonl (default $OUT or ./out)')
    ap.add_argument('--budget-s', type=float, default=300.0, help='stop starting new sections after this many seconds (default 300)')
    ap.add_argument('--sections', default=','.join(SECTIONS), help='comma-separated subset of: ' + ', '.join(SECTIONS))
    ap.add_argument('--model', action='append', default=[], help='model spec (JSON) whose modules the modules section profiles; repeatable')
    ap.add_argument('--device-name', default=None, help="device name written in the profile's samples: the cluster spec's gpu.name (default: the GPU's own name)")
    ap.add_argument('--max-layers', type=int, default=2, help='transformer layers actually run per module; times are scaled to all layers (default 2)')
    ap.add_argument('--dry-run', action='store_true', help='print the plan, measure nothing')
    args = ap.parse_args()
    specs = []
    for path in args.model:
        with open(path, encoding='utf-8') as f:
            specs.append(json.load(f))
    sections = [s for s in args.sections.split(',') if s]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        print(f'gpu-sweep: unknown section(s) {unknown}; known: {SECTIONS}', file=sys.stderr)
        return 2
    if args.dry_run:
        plan = [{'model': sp['name'], 'modules': [m['name'] for m in sp['modules'] if m['arch']['type'] in ('transformer', 'mlp')]} for sp in specs]
        print(json.dumps({'sections': sections, 'smPoints': SM_POINTS, 'out': args.out, 'budgetS': args.budget_s, 'profiles': plan}))
        return 0

    import torch
    rec = Recorder(args.out)
    t0 = time.time()
    sweep = Sweep(torch, rec)
    sweep.specs, sweep.out, sweep.device_name, sweep.max_layers = specs, args.out, args.device_name, args.max_layers
    for name in sections:
        left = args.budget_s - (time.time() - t0)
        if left <= 0:
            rec.put('skipped', name=name, reason='budget spent')
            continue
        start = time.time()
        try:
            getattr(sweep, name.replace('-', '_'))(deadline=time.time() + left)
            rec.put('done', name=name, seconds=round(time.time() - start, 2))
        except Exception as e:  # one section failing must not lose the others
            rec.put('failed', name=name, error=f'{type(e).__name__}: {e}', trace=traceback.format_exc()[-2000:])
    return 0


class Sweep:
    def __init__(self, torch, rec):
        self.torch = torch
        self.rec = rec
        self.dev = torch.device('cuda:0')
        self.props = torch.cuda.get_device_properties(0)
        self.sms = self.props.multi_processor_count
        self._parts = {}

    # ---- timing -------------------------------------------------------------------------------
    def time_ms(self, fn, stream=None, reps=10, warmup=3):
        """Median over 3 batches of `reps` launches of fn on `stream`, in ms per launch."""
        torch = self.torch
        stream = stream or torch.cuda.current_stream()
        with torch.cuda.stream(stream):
            for _ in range(warmup):
                fn()
            samples = []
            for _ in range(3):
                a = torch.cuda.Event(enable_timing=True)
                b = torch.cuda.Event(enable_timing=True)
                a.record(stream)
                for _ in range(reps):
                    fn()
                b.record(stream)
                b.synchronize()
                samples.append(a.elapsed_time(b) / reps)
        samples.sort()
        return samples[1]

    # ---- green contexts -----------------------------------------------------------------------
    def partition(self, counts):
        """Streams of green contexts with the given SM counts (rounded up by the driver), cached."""
        key = tuple(counts)
        if key in self._parts:
            return self._parts[key]
        from cuda.bindings import driver

        def ok(res):
            err = res[0]
            if int(err) != 0:
                raise RuntimeError(f'CUDA driver error {err}')
            return res[1] if len(res) == 2 else res[1:]

        self.torch.cuda.init()
        cu_dev = ok(driver.cuDeviceGet(0))
        resource = ok(driver.cuDeviceGetDevResource(cu_dev, driver.CUdevResourceType.CU_DEV_RESOURCE_TYPE_SM))
        streams, got = [], []
        if len(set(counts)) == 1:
            results, _, _remaining = ok(driver.cuDevSmResourceSplitByCount(len(counts), resource, 0, counts[0]))
            groups = list(results)[:len(counts)]
        else:
            raise ValueError('partition: equal counts only')
        for g in groups:
            desc = ok(driver.cuDevResourceGenerateDesc([g], 1))
            gctx = ok(driver.cuGreenCtxCreate(desc, cu_dev, driver.CUgreenCtxCreate_flags.CU_GREEN_CTX_DEFAULT_STREAM))
            raw = ok(driver.cuGreenCtxStreamCreate(gctx, driver.CUstream_flags.CU_STREAM_NON_BLOCKING, 0))
            streams.append(self.torch.cuda.get_stream_from_external(int(raw), self.dev))
            got.append(int(g.sm.smCount))
        self._parts[key] = (streams, got)
        return streams, got

    def carveout(self, n):
        """cuBLAS SM carve-out (SMs left out of a GEMM's grid); None when this torch has none."""
        f = getattr(self.torch._C, '_set_sm_carveout_experimental', None)
        if f is None:
            return None
        f(n if n > 0 else None)
        return n

    # ---- sections -----------------------------------------------------------------------------
    def env(self, deadline):
        torch = self.torch
        p = self.props
        driver = None
        try:
            import subprocess
            driver = subprocess.run(['nvidia-smi', '--query-gpu=driver_version,clocks.max.sm,clocks.max.mem', '--format=csv,noheader'],
                                    capture_output=True, text=True, timeout=20).stdout.strip()
        except Exception as e:
            driver = f'unknown ({e})'
        self.rec.put('env', gpu=p.name, sms=self.sms, capability=f'{p.major}.{p.minor}', memoryGiB=round(p.total_memory / 2**30, 1),
                     l2Bytes=getattr(p, 'L2_cache_size', None), torch=torch.__version__, cuda=torch.version.cuda,
                     nvidiaSmi=driver, date=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                     carveout=hasattr(torch._C, '_set_sm_carveout_experimental'))

    def launch(self, deadline):
        torch = self.torch
        x = torch.zeros(1, device=self.dev)
        n = 2000
        # Eager: the host issues each launch; the GPU-side time per kernel is the launch floor.
        for _ in range(100):
            x.add_(1)
        torch.cuda.synchronize()
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        w0 = time.perf_counter()
        a.record()
        for _ in range(n):
            x.add_(1)
        b.record()
        b.synchronize()
        wall = (time.perf_counter() - w0) * 1e3
        self.rec.put('launch', mode='eager', kernels=n, gpuUsPerKernel=a.elapsed_time(b) * 1e3 / n, hostUsPerKernel=wall * 1e3 / n)
        # Graph replay: no host in the loop; what is left is the GPU's own back-to-back floor.
        g = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        with torch.cuda.stream(s):
            x.add_(1)
            torch.cuda.synchronize()
            with torch.cuda.graph(g, stream=s):
                for _ in range(n):
                    x.add_(1)
        g.replay()
        torch.cuda.synchronize()
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        self.rec.put('launch', mode='graph', kernels=n, gpuUsPerKernel=a.elapsed_time(b) * 1e3 / n)

    def _bw_ops(self):
        torch = self.torch
        n = 256 * 2**20  # 1 GiB of fp32
        src = torch.ones(n, device=self.dev)
        dst = torch.empty_like(src)
        return n * 4, {
            'copy': (lambda: dst.copy_(src), 2),
            'read': (lambda: torch.sum(src), 1),
            'scale': (lambda: dst.mul_(1.0001), 2),
        }

    def bandwidth(self, deadline):
        nbytes, ops = self._bw_ops()
        points = SM_POINTS + [self.sms]
        for s in points:
            if time.time() > deadline:
                break
            stream, got = (None, self.sms) if s == self.sms else (lambda p: (p[0][0], p[1][0]))(self.partition([s]))
            for name, (fn, passes) in ops.items():
                ms = self.time_ms(fn, stream, reps=5)
                self.rec.put('bandwidth', op=name, smsAsked=s, sms=got, ms=ms, gbps=passes * nbytes / ms / 1e6)

    def _gemm(self, m, n, k):
        torch = self.torch
        a = torch.randn(m, k, device=self.dev, dtype=torch.bfloat16)
        b = torch.randn(k, n, device=self.dev, dtype=torch.bfloat16)
        c = torch.empty(m, n, device=self.dev, dtype=torch.bfloat16)
        return lambda: torch.matmul(a, b, out=c)

    def gemm_sms(self, deadline):
        shapes = [(8192, 8192, 8192), (4096, 4096, 4096), (2048, 2048, 2048), (16384, 1024, 4096), (1024, 4096, 4096)]
        for (m, n, k) in shapes:
            fn = self._gemm(m, n, k)
            flops = 2.0 * m * n * k
            full = self.time_ms(fn)
            self.rec.put('gemm-sms', m=m, n=n, k=k, sms=self.sms, carveout=0, ms=full, tflops=flops / full / 1e9)
            for s in SM_POINTS:
                if time.time() > deadline:
                    return
                streams, got = self.partition([s])
                ms = self.time_ms(fn, streams[0], reps=5)
                self.rec.put('gemm-sms', m=m, n=n, k=k, sms=got[0], carveout=0, ms=ms, tflops=flops / ms / 1e9)
                if self.carveout(self.sms - got[0]) is not None:
                    try:
                        ms2 = self.time_ms(fn, streams[0], reps=5)
                        self.rec.put('gemm-sms', m=m, n=n, k=k, sms=got[0], carveout=self.sms - got[0], ms=ms2, tflops=flops / ms2 / 1e9)
                    finally:
                        self.carveout(0)

    def gemm_waves(self, deadline):
        m, k = 4096, 4096
        for n in range(128, 8192 + 1, 128):
            if time.time() > deadline:
                return
            fn = self._gemm(m, n, k)
            ms = self.time_ms(fn, reps=10)
            self.rec.put('gemm-waves', m=m, n=n, k=k, sms=self.sms, ms=ms, tflops=2.0 * m * n * k / ms / 1e9)
        # The same sweep at a 64-SM partition, coarser.
        streams, got = self.partition([64])
        for n in range(256, 8192 + 1, 256):
            if time.time() > deadline:
                return
            fn = self._gemm(m, n, k)
            ms = self.time_ms(fn, streams[0], reps=5)
            self.rec.put('gemm-waves', m=m, n=n, k=k, sms=got[0], ms=ms, tflops=2.0 * m * n * k / ms / 1e9)

    def attention(self, deadline):
        torch = self.torch
        F = torch.nn.functional
        cases = [(4, 16, 4096, 128, True), (4, 16, 4096, 128, False), (64, 16, 256, 64, False), (32, 16, 1024, 64, False), (1, 32, 8192, 128, True)]
        for (b, h, s, d, causal) in cases:
            q = torch.randn(b, h, s, d, device=self.dev, dtype=torch.bfloat16, requires_grad=True)
            kk = torch.randn_like(q, requires_grad=True)
            v = torch.randn_like(q, requires_grad=True)
            fl = 4.0 * b * h * s * s * d * (0.5 if causal else 1.0)
            fwd = lambda: F.scaled_dot_product_attention(q, kk, v, is_causal=causal)
            for s_sms in [self.sms, 64, 32]:
                if time.time() > deadline:
                    return
                stream, got = (None, self.sms) if s_sms == self.sms else (lambda p: (p[0][0], p[1][0]))(self.partition([s_sms]))
                # Autograd runs a backward op on the stream its forward ran on: build the graph on `stream`.
                with torch.cuda.stream(stream or torch.cuda.current_stream()):
                    o = fwd()
                    go = torch.randn_like(o)
                bwd = lambda: torch.autograd.grad(o, (q, kk, v), go, retain_graph=True)
                f_ms = self.time_ms(fwd, stream, reps=5)
                b_ms = self.time_ms(bwd, stream, reps=3)
                self.rec.put('attention', b=b, h=h, s=s, d=d, causal=causal, sms=got, fwdMs=f_ms, bwdMs=b_ms,
                             fwdTflops=fl / f_ms / 1e9, bwdTflops=2.5 * fl / b_ms / 1e9)

    def _block(self, d, heads, ffn, tokens, batch):
        """One transformer layer's training step (forward + backward), bf16, as a module replica runs it."""
        torch = self.torch
        layer = torch.nn.TransformerEncoderLayer(d, heads, ffn, dropout=0.0, batch_first=True, norm_first=True,
                                                 device=self.dev, dtype=torch.bfloat16)
        x = torch.randn(batch, tokens, d, device=self.dev, dtype=torch.bfloat16, requires_grad=True)

        def step():
            y = layer(x)
            y.float().pow(2).mean().backward()
        flops = 6.0 * batch * tokens * (4 * d * d + 2 * d * ffn) + 3.0 * 4 * batch * tokens * tokens * d
        return step, flops

    def _graphed(self, step, stream):
        """step captured in a CUDA graph on `stream` (so one host thread can keep two partitions busy)."""
        torch = self.torch
        with torch.cuda.stream(stream):
            for _ in range(3):
                step()
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, stream=stream):
            step()
        torch.cuda.synchronize()
        return g.replay

    def blocks(self, deadline):
        """Does colocation pay on real layers? A ViT-L layer, an LLM layer and a small ViT-B layer: each
        alone on the whole GPU and on half of it, then two at once on two halves (spatial sharing) against
        the same work one after the other on the whole GPU (temporal). Eager steps are host-bound when two
        run from one thread, so each step is also captured as a CUDA graph and the graphs are replayed."""
        torch = self.torch
        mods = {
            'vit-l-layer': self._block(1024, 16, 4096, 257, 32),
            'llm-7b-layer': self._block(4096, 32, 11008, 2048, 1),
            'vit-b-layer-small': self._block(768, 12, 3072, 197, 8),
        }
        half = (self.sms // 2) // 8 * 8
        streams, got = self.partition([half, half])
        whole = torch.cuda.Stream()
        for mode in ('graph', 'eager'):
            run, alone = {}, {}
            for name, (step, fl) in mods.items():
                if time.time() > deadline:
                    return
                if mode == 'graph':
                    run[name] = [self._graphed(step, st) for st in (whole, streams[0], streams[1])]
                else:
                    run[name] = [step, step, step]
                full = self.time_ms(run[name][0], whole, reps=5)
                part = self.time_ms(run[name][1], streams[0], reps=5)
                alone[name] = (full, part)
                self.rec.put('blocks', mode=mode, module=name, sms=[self.sms, got[0]], ms=[full, part], tflops=[fl / full / 1e9, fl / part / 1e9])
            names = list(mods)
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    if time.time() > deadline:
                        return
                    a, b = names[i], names[j]
                    reps = [max(5, int(round(80.0 / alone[n][1]))) for n in (a, b)]
                    torch.cuda.synchronize()
                    evs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(2)]
                    w0 = time.perf_counter()
                    for k, (n, st) in enumerate(zip((a, b), streams)):
                        fn = run[n][1 + k]
                        with torch.cuda.stream(st):
                            evs[k][0].record(st)
                            for _ in range(reps[k]):
                                fn()
                            evs[k][1].record(st)
                    torch.cuda.synchronize()
                    wall = (time.perf_counter() - w0) * 1e3
                    together = [evs[k][0].elapsed_time(evs[k][1]) / reps[k] for k in range(2)]
                    temporal = reps[0] * alone[a][0] + reps[1] * alone[b][0]
                    self.rec.put('blocks-corun', mode=mode, pair=[a, b], sms=got, reps=reps, togetherMs=together,
                                 slowdownVsAlonePartition=[together[0] / alone[a][1], together[1] / alone[b][1]],
                                 spatialWallMs=wall, temporalMs=temporal, speedup=temporal / wall)

    def _pairs(self):
        gemm = self._gemm(8192, 8192, 8192)
        _, bw = self._bw_ops()
        copy = bw['copy'][0]
        return {'gemm+gemm': (gemm, gemm), 'copy+copy': (copy, copy), 'gemm+copy': (gemm, copy)}

    def _corun(self, streams, label, deadline):
        torch = self.torch
        for name, (f1, f2) in self._pairs().items():
            if time.time() > deadline:
                return
            alone = [self.time_ms(f1, streams[0], reps=10), self.time_ms(f2, streams[1], reps=10)]
            # Both at once: enough launches on each stream that they overlap for most of the window.
            reps = [max(5, int(round(60.0 / max(t, 1e-3)))) for t in alone]
            torch.cuda.synchronize()
            evs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in streams]
            for i, (st, fn) in enumerate(zip(streams, (f1, f2))):
                with torch.cuda.stream(st):
                    evs[i][0].record(st)
                    for _ in range(reps[i]):
                        fn()
                    evs[i][1].record(st)
            torch.cuda.synchronize()
            together = [evs[i][0].elapsed_time(evs[i][1]) / reps[i] for i in range(2)]
            self.rec.put(label, pair=name, alone=alone, together=together, slowdown=[together[i] / alone[i] for i in range(2)], reps=reps)

    def corun(self, deadline):
        half = (self.sms // 2) // 8 * 8
        streams, got = self.partition([half, half])
        self.rec.put('corun-partition', sms=got)
        self._corun(streams, 'corun', deadline)

    def modules(self, deadline):
        """Profiles the modules of each --model spec (transformer and mlp; explicit modules have no shapes)."""
        torch = self.torch
        nn = torch.nn
        for spec in self.specs:
            micro = spec['batch']['micro']
            mods = {m['name']: m for m in spec['modules']}

            def trainable_upstream(name, seen=()):
                return any(mods[i].get('trainable') or trainable_upstream(i) for i in mods[name].get('inputs', []))

            samples = []
            levels = MODULE_SMS + [self.sms]
            for m in spec['modules']:
                a = m['arch']
                if a['type'] not in ('transformer', 'mlp') or time.time() > deadline:
                    self.rec.put('modules-skipped', model=spec['name'], module=m['name'], reason='explicit arch (no shapes)' if a['type'] == 'explicit' else 'budget spent')
                    continue
                full = bool(m.get('trainable'))
                input_grad = full or trainable_upstream(m['name'])
                dt = torch.bfloat16
                if a['type'] == 'transformer':
                    seqs = a.get('sequencesPerSample', 1)
                    tokens = a['tokensPerSample'] // seqs
                    # A gated FFN's three h×ffn matrices cost as much as a plain FFN 1.5× as wide; grouped-query
                    # attention is run as full multi-head attention (slightly more K/V work).
                    ffn = int(a['ffn'] * (1.5 if a['ffnGated'] else 1))
                    run_layers = min(a['layers'], self.max_layers)
                    body = nn.Sequential(*[nn.TransformerEncoderLayer(a['hidden'], a['heads'], ffn, dropout=0.0, batch_first=True,
                                                                      norm_first=True, device=self.dev, dtype=dt) for _ in range(run_layers)])
                    head = nn.Linear(a['hidden'], a['vocab'], bias=False, device=self.dev, dtype=dt) if a.get('vocab') else None
                    x = torch.randn(micro * seqs, tokens, a['hidden'], device=self.dev, dtype=dt)
                    scale = a['layers'] / run_layers
                    mask = nn.Transformer.generate_square_subsequent_mask(tokens, device=self.dev, dtype=dt) if a['causal'] else None

                    def run_body(body=body, x=x, mask=mask):
                        y = x
                        for layer in body:
                            y = layer(y, src_mask=mask, is_causal=True) if mask is not None else layer(y)
                        return y
                else:
                    w = a['widths']
                    layers = []
                    for i in range(len(w) - 1):
                        layers += [nn.Linear(w[i], w[i + 1], bias=a['bias'], device=self.dev, dtype=dt), nn.GELU()]
                    body = nn.Sequential(*layers[:-1])
                    head = None
                    x = torch.randn(micro * a['tokensPerSample'], w[0], device=self.dev, dtype=dt)
                    scale = 1.0

                    def run_body(body=body, x=x):
                        return body(x)
                for mod in (body, head):
                    if mod is not None:
                        for prm in mod.parameters():
                            prm.requires_grad_(full)
                x.requires_grad_(input_grad)
                parts = [(run_body, scale)]
                if head is not None:
                    # The LM head runs once, not once per layer: timed on its own, added unscaled.
                    y0 = torch.randn(x.shape[0], x.shape[1], head.in_features, device=self.dev, dtype=dt, requires_grad=input_grad)
                    parts.append(((lambda head=head, y0=y0: head(y0)), 1.0))

                for s in levels:
                    stream, got = (None, self.sms) if s == self.sms else (lambda p: (p[0][0], p[1][0]))(self.partition([s]))
                    f_total = b_total = 0.0
                    for run, mult in parts:
                        with torch.no_grad():
                            f_ms = self.time_ms(run, stream, reps=3, warmup=2)
                        b_ms = 0.0
                        if input_grad:
                            s_ms = self.time_ms(lambda run=run: run().float().square().mean().backward(), stream, reps=3, warmup=2)
                            b_ms = max(0.0, s_ms - f_ms)
                            if spec.get('activationCheckpointing'):
                                b_ms += f_ms  # the forward again, recomputed in backward
                        f_total += f_ms * mult
                        b_total += b_ms * mult
                    sample = {'module': m['name'], 'device': self.device_name or self.props.name, 'quotaFraction': got / self.sms,
                              'micro': micro, 'forwardMs': f_total, 'backwardMs': b_total}
                    samples.append(sample)
                    self.rec.put('modules', model=spec['name'], **sample, layersRun=(run_layers if a['type'] == 'transformer' else None))
                del body, head, x, parts
                torch.cuda.empty_cache()
            profile = {'model': spec['name'], 'device': self.device_name or self.props.name,
                       'measurement': {'backend': 'cuda', 'scale': 1, 'levels': levels, 'repeats': 3, 'statistic': 'median', 'warmup': 2},
                       'samples': samples}
            path = os.path.join(self.out, f"profile-{spec['name']}.json")
            with open(path + '.tmp', 'w', encoding='utf-8') as f:
                json.dump(profile, f, indent=1)
            os.replace(path + '.tmp', path)

    def corun_shared(self, deadline):
        torch = self.torch
        streams = [torch.cuda.Stream(), torch.cuda.Stream()]
        self._corun(streams, 'corun-shared', deadline)


if __name__ == '__main__':
    sys.exit(main())
