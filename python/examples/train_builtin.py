#!/usr/bin/env python3
"""Train Mosaic's built-in multimodal model in PyTorch under a plan (or as a single-process reference).

The model mirrors src/engine/builtin-model.ts: `image` (an MLP 16 -> 32 -> 16), `audio` (one pre-norm
transformer block over 4 tokens of width 8, 2 heads, FFN 16) and `head` (an MLP over both encoders'
outputs, 48 -> 32 -> 4, softmax cross-entropy), on a synthetic task from a seed whose class needs both
modalities: class = 2*[u.image > 0] + [v.sum_t audio_t > 0].

Under a plan (every rank):
    mosaic plan -m builtin-mm -c local-cpu -o plan.json
    mosaic launch plan.json --quota-mode none -- python3 python/examples/train_builtin.py --steps 20 --out out/
Reference (one process, the whole batch, no contract), then the comparison:
    python3 python/examples/train_builtin.py --reference --steps 20 --out out/
    python3 python/examples/train_builtin.py --compare --out out/

Each rank writes out/rank<R>.json with the weights of its modules after the last step (the reference
writes out/reference.json); the replicas of a module end with the same weights as the reference.
Runs in float64 so that "the same" means to ~1e-12.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

IMAGE, TOKENS, WIDTH, CLASSES = 16, 4, 8, 4


class ImageEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(IMAGE, 32)
        self.fc2 = nn.Linear(32, 16)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class AudioEncoder(nn.Module):
    """One pre-norm transformer block; output flattened to (micro, 4 * 8)."""

    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(WIDTH)
        self.q = nn.Linear(WIDTH, WIDTH)
        self.k = nn.Linear(WIDTH, WIDTH, bias=False)
        self.v = nn.Linear(WIDTH, WIDTH)
        self.o = nn.Linear(WIDTH, WIDTH)
        self.ln2 = nn.LayerNorm(WIDTH)
        self.ff1 = nn.Linear(WIDTH, 16)
        self.ff2 = nn.Linear(16, WIDTH)

    def forward(self, x):
        b = x.shape[0]
        x = x.view(b, TOKENS, WIDTH)
        h = self.ln1(x)
        heads, d = 2, WIDTH // 2
        q, k, v = (t.view(b, TOKENS, heads, d).transpose(1, 2) for t in (self.q(h), self.k(h), self.v(h)))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1) @ v
        x = x + self.o(att.transpose(1, 2).reshape(b, TOKENS, WIDTH))
        x = x + self.ff2(F.gelu(self.ff1(self.ln2(x))))
        return x.reshape(b, TOKENS * WIDTH)


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16 + TOKENS * WIDTH, 32)
        self.fc2 = nn.Linear(32, CLASSES)

    def forward(self, image, audio):
        return self.fc2(F.gelu(self.fc1(torch.cat([image, audio], dim=1))))


def build_modules(seed: int):
    """Every module initialised from its own seed, so every rank builds identical replicas."""
    out = {}
    for i, (name, cls) in enumerate((("image", ImageEncoder), ("audio", AudioEncoder), ("head", Head))):
        torch.manual_seed(seed * 1000 + i)
        out[name] = cls().double()
    return out


def make_batch(seed: int, step: int, n: int):
    """A seeded batch of n samples: image (n, 16), audio (n, 32), labels (n,)."""
    g = torch.Generator().manual_seed(seed)
    u = F.normalize(torch.randn(IMAGE, generator=g, dtype=torch.float64), dim=0)
    v = F.normalize(torch.randn(WIDTH, generator=g, dtype=torch.float64), dim=0)
    g.manual_seed(seed * 7919 + step + 1)
    image = torch.randn(n, IMAGE, generator=g, dtype=torch.float64)
    audio = torch.randn(n, TOKENS, WIDTH, generator=g, dtype=torch.float64)
    a = image @ u
    image = image + (torch.sign(a) * 0.5).unsqueeze(1) * u  # push away from the boundary
    s = audio.sum(dim=1) @ v
    audio = audio + (torch.sign(s) * 0.5 / TOKENS).view(n, 1, 1) * v
    labels = 2 * (image @ u > 0).long() + (audio.sum(dim=1) @ v > 0).long()
    return image, audio.reshape(n, TOKENS * WIDTH), labels


def save(path, modules, names, extra):
    data = {"modules": {n: {k: t.detach().reshape(-1).tolist() for k, t in modules[n].state_dict().items()} for n in names}, **extra}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


def reference(args, global_batch, micro):
    modules = build_modules(args.seed)
    opts = {n: torch.optim.Adam(m.parameters(), lr=args.lr) for n, m in modules.items()}
    losses = []
    for step in range(args.steps):
        image, audio, labels = make_batch(args.seed, step, global_batch)
        logits = modules["head"](modules["image"](image), modules["audio"](audio))
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        for n in modules:
            opts[n].step()
            opts[n].zero_grad()
        losses.append(float(loss))
    print(f"reference: loss {losses[0]:.4f} -> {losses[-1]:.4f} over {args.steps} steps", flush=True)
    save(os.path.join(args.out, "reference.json"), modules, list(modules), {"losses": losses})


def compare(out: str) -> int:
    ref = json.load(open(os.path.join(out, "reference.json")))["modules"]
    worst, seen = 0.0, []
    for name in sorted(f for f in os.listdir(out) if f.startswith("rank") and f.endswith(".json")):
        got = json.load(open(os.path.join(out, name)))["modules"]
        for m, params in got.items():
            seen.append(f"{name[:-5]}:{m}")
            for k, values in params.items():
                worst = max([worst] + [abs(a - b) for a, b in zip(values, ref[m][k])])
    print(f"max |w - w_ref| = {worst:.3g} over {len(seen)} module replicas ({', '.join(seen)})")
    return 0 if seen and worst < 1e-9 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="out")
    p.add_argument("--reference", action="store_true", help="train in one process on the whole batch (no plan)")
    p.add_argument("--global-batch", type=int, default=32, help="reference only: the plan's global batch")
    p.add_argument("--sync", choices=["overlap", "after"], default="overlap", help="overlap: train_step all-reduces gradients in buckets under the last backward (what the plan's model charges); after: one rt.allreduce_gradients per module after train_step")
    p.add_argument("--fail-rank", type=int, default=-1, help="test hook: this rank exits 1 at start-up, while the others wait for it in the rendezvous")
    p.add_argument("--compare", action="store_true", help="compare every rank<R>.json in --out with reference.json; exit 1 above 1e-9")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.compare:
        sys.exit(compare(args.out))
    if args.reference:
        reference(args, args.global_batch, None)
        return

    import mosaic_runtime as mr

    if int(os.environ.get("RANK", "-1")) == args.fail_rank:
        print(f"rank {args.fail_rank}: failing on purpose (--fail-rank)", flush=True)
        sys.exit(1)
    rt = mr.init()
    modules = {n: m.to(rt.device) for n, m in build_modules(args.seed).items()}
    here = rt.modules_here()
    opts = {n: torch.optim.Adam(modules[n].parameters(), lr=args.lr) for n in here}
    micro = rt.micro
    print(f"rank {rt.rank}/{rt.world_size}: modules {here}, microbatches {[len(rt.microbatches(n)) for n in here]}, device {rt.device}" + (f" ({rt.quota_note})" if rt.quota_note else ""), flush=True)
    losses = []
    t0 = time.time()
    for step in range(args.steps):
        image, audio, labels = (t.to(rt.device) for t in make_batch(args.seed, step, rt.global_batch))
        rows = lambda k: slice(k * micro, (k + 1) * micro)  # noqa: E731
        source = lambda m, k: (image if m == "image" else audio)[rows(k)]  # noqa: E731
        loss_fn = lambda m, out, k: F.cross_entropy(out, labels[rows(k)])  # noqa: E731
        local = rt.train_step({n: modules[n] for n in modules}, source, loss_fn, sync_gradients=args.sync == "overlap")
        for n in here:
            if args.sync == "after":
                rt.allreduce_gradients(n, modules[n].parameters())
            opts[n].step()
            opts[n].zero_grad()
        losses.append(local)
    print(f"rank {rt.rank}: {args.steps} steps in {time.time() - t0:.2f} s", flush=True)
    for n, s in rt.last_sync.items():
        print(f"rank {rt.rank}: {n} gradients in {s['buckets']} buckets, {s['launchedInBackward']} launched during the backward", flush=True)
    save(os.path.join(args.out, f"rank{rt.rank}.json"), modules, here, {"rank": rt.rank, "losses": losses})
    rt.close()


if __name__ == "__main__":
    main()
