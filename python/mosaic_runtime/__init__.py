"""Mosaic's PyTorch runtime: run one rank of a Mosaic plan (standard library + torch only).

``mosaic launch PLAN -- python train.py`` (or ``torchrun`` from ``mosaic export --format torchrun``) starts
one process per rank with ``MOSAIC_LAUNCH`` pointing at the launch contract (schemas/launch.schema.json).
In the training script::

    import mosaic_runtime as mr
    rt = mr.init()                               # process group, one group per module, slot streams
    for step in range(steps):
        loss = rt.train_step(modules, source=lambda m, k: batch_of(m, k), loss=lambda m, out, k: ce(out, k),
                             sync_gradients=True)   # bucketed all-reduce under the last backward, as DDP
        for m in rt.modules_here():
            optimizers[m].step(); optimizers[m].zero_grad()

What it gives:

* ``init()`` reads the contract, finds this rank (``RANK``, checked against ``LOCAL_RANK``), picks the
  device (``cuda:<its GPU>`` on a GPU plan with CUDA, else CPU), creates the default process group (nccl
  on GPU, gloo on CPU) and one data-parallel group per module (``rt.group(module)``).
* ``slot(module)``: a context manager that runs work on the stream of the module's SM quota. In green
  mode (``MOSAIC_QUOTA_MODE=green``, one process per GPU) each slot of the GPU is a CUDA green context
  holding its SM count, made with ``cuda.bindings.driver`` (cuDevSmResourceSplitByCount into units,
  cuDevResourceGenerateDesc, cuGreenCtxCreate, cuGreenCtxStreamCreate, then
  ``torch.cuda.get_stream_from_external``), and cuBLAS gets the SM carve-out
  (``torch._C._set_sm_carveout_experimental``) so persistent GEMMs size their grid to the slot. In MPS
  mode the quota is the process's ``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`` (set before CUDA starts). On
  CPU, or where green contexts are unavailable, it is the current stream (and ``rt.quota_note`` says why).
* ``train_step``: one iteration of the plan's microbatches through the module DAG on every rank,
  forward in topological order then backward in reverse, activations and their gradients sent between
  the ranks that own the producer and the consumer of each microbatch (``dist.send``/``dist.recv``).
  Every rank walks the same global order of transfers, so blocking point-to-point calls cannot
  deadlock. Each microbatch's loss is scaled by micro/global, so after ``allreduce_gradients`` (a SUM
  over the module's group) every replica holds the gradient of the mean loss over the whole batch,
  however uneven the replicas' shares. Microbatches run one after another (correct, not overlapped).
* ``train_step(..., sync_gradients=True)``: each trainable module's gradients are SUM-all-reduced in its
  group in buckets of the contract's ``gradientBucketMiB`` (the plan's ``optimizer.gradientBucketMiB``,
  PyTorch DDP's 25 MiB by default), each launched asynchronously as soon as the last local
  microbatch's backward has accumulated all of its parameters (parameters in reverse order, as DDP
  fills buckets), in bucket order on every rank; train_step waits for them before it returns. This is
  the overlap the performance model charges (src/perf/sync.ts). ``rt.last_sync[module]`` says how many
  buckets there were and how many were launched from inside the backward.
* ``allreduce_gradients(module, params, local_mean=False)``: SUM all-reduce in the module's group; with
  ``local_mean=True`` the gradients are the mean over this rank's samples and are first weighted by the
  contract's gradient weight (samples on this rank / global batch).
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import timedelta
from typing import Any, Callable, Dict, Iterable, List, Optional

__all__ = ["init", "load_contract", "Runtime"]


def load_contract(value: Optional[str] = None) -> Dict[str, Any]:
    """The launch contract from MOSAIC_LAUNCH: a path to a JSON file, or the JSON itself."""
    value = value if value is not None else os.environ.get("MOSAIC_LAUNCH")
    if not value:
        raise RuntimeError("MOSAIC_LAUNCH is not set: start this script with `mosaic launch PLAN -- ...`")
    if value.lstrip().startswith("{"):
        return json.loads(value)
    with open(value, "r", encoding="utf-8") as f:
        return json.load(f)


def _topological(modules: List[Dict[str, Any]]) -> List[str]:
    done: List[str] = []
    pending = list(modules)
    while pending:
        ready = [m for m in pending if all(i in done for i in m["inputs"])]
        if not ready:
            raise RuntimeError("the module DAG has a cycle")
        done.append(ready[0]["name"])
        pending.remove(ready[0])
    return done


class _GreenSlots:
    """Green contexts for the slots of this rank's GPU: disjoint SM groups, one stream each."""

    def __init__(self, torch: Any, device: Any, slots: List[Dict[str, Any]], total_sms: int, gpu_slots: Optional[List[Dict[str, Any]]] = None):
        self.streams: Dict[str, Any] = {}
        self.sm_counts: Dict[str, int] = {}
        self._contexts: List[Any] = []  # the green contexts live as long as the runtime
        try:
            from cuda.bindings import driver  # cuda-bindings >= 12.x
        except ImportError:  # older cuda-python
            from cuda import cuda as driver  # type: ignore

        def ok(res: Any) -> Any:
            err = res[0]
            if int(err) != 0:
                raise RuntimeError(f"CUDA driver error {err}")
            return res[1] if len(res) == 2 else res[1:]

        torch.cuda.init()
        torch.cuda.set_device(device)
        ok(driver.cuInit(0))
        cu_dev = ok(driver.cuDeviceGet(device.index))
        resource = ok(driver.cuDeviceGetDevResource(cu_dev, driver.CUdevResourceType.CU_DEV_RESOURCE_TYPE_SM))
        unit = int(getattr(resource.sm, "minSmPartitionSize", 0) or 8)  # Hopper: 8 SMs
        partial = [s for s in slots if s["smCount"] < total_sms]
        if not partial:
            return
        # As many units of `unit` SMs as the GPU's structure allows (H200: 15 of 8, not 132 // 8 = 16).
        units, nb = [], 0
        for n in range(total_sms // unit, 0, -1):
            try:
                units, nb, _rest = ok(driver.cuDevSmResourceSplitByCount(n, resource, 0, unit))
                break
            except RuntimeError:
                continue
        units = list(units)[: int(nb)]
        if not units:
            raise RuntimeError(f"cuDevSmResourceSplitByCount gave no group of {unit} SMs")
        unit = int(units[0].sm.smCount)
        # Units are handed out over every slot of the GPU in slot order, also those of other ranks (one
        # process per slot), so that the processes of one GPU take the same disjoint groups as one would.
        mine = {s["id"] for s in partial}
        offset = 0
        for s in [x for x in (gpu_slots or slots) if x["smCount"] < total_sms]:
            take = max(1, -(-s["smCount"] // unit))
            if offset + take > len(units):
                raise RuntimeError(f"slot {s['id']}: {s['smCount']} SMs do not fit the {len(units)} units of {unit} SMs left")
            group = units[offset : offset + take]
            offset += take
            if s["id"] not in mine:
                continue
            desc = ok(driver.cuDevResourceGenerateDesc(group, len(group)))
            gctx = ok(driver.cuGreenCtxCreate(desc, cu_dev, driver.CUgreenCtxCreate_flags.CU_GREEN_CTX_DEFAULT_STREAM))
            raw = ok(driver.cuGreenCtxStreamCreate(gctx, driver.CUstream_flags.CU_STREAM_NON_BLOCKING, 0))
            self._contexts.append((gctx, raw))
            self.streams[s["id"]] = torch.cuda.get_stream_from_external(int(raw), device)
            self.sm_counts[s["id"]] = sum(int(g.sm.smCount) for g in group)


class Runtime:
    def __init__(self, contract: Dict[str, Any], rank: int, backend: Optional[str] = None, init_process_group: bool = True):
        import torch
        import torch.distributed as dist

        self.torch = torch
        self.dist = dist
        self.contract = contract
        self.rank = rank
        self.world_size = int(contract["worldSize"])
        self.me = contract["ranks"][rank]
        self.quota_mode = os.environ.get("MOSAIC_QUOTA_MODE", "none")
        self.quota_note = ""
        self.modules = {m["name"]: m for m in contract["modules"]}
        self.order = _topological(contract["modules"])
        self.micro = int(contract["batch"]["micro"])
        self.global_batch = int(contract["batch"]["global"])
        self.microbatches_total = int(contract["batch"]["microbatches"])
        # owner[m][k] = rank that processes microbatch k of module m
        self.owner: Dict[str, List[int]] = {}
        for m in contract["modules"]:
            owner = [-1] * self.microbatches_total
            for r in m["replicas"]:
                for k in r["microbatches"]:
                    owner[k] = r["rank"]
            self.owner[m["name"]] = owner
        self.consumers: Dict[str, List[str]] = {n: [c for c in self.order if n in self.modules[c]["inputs"]] for n in self.order}
        self.needs_grad: Dict[str, bool] = {}
        for n in self.order:
            self.needs_grad[n] = bool(self.modules[n]["trainable"]) or any(self.needs_grad[i] for i in self.modules[n]["inputs"])
        self.slot_of: Dict[str, Dict[str, Any]] = {}
        for s in self.me["slots"]:
            for m in s["modules"]:
                self.slot_of.setdefault(m, s)

        gpu = contract["device"] == "gpu" and torch.cuda.is_available()
        if gpu:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
            index = 0 if visible.strip() == str(self.me["localGpu"]) else int(self.me["localGpu"])
            self.device = torch.device("cuda", index)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        self.backend = backend or ("nccl" if gpu else "gloo")

        self._green: Optional[_GreenSlots] = None
        self.total_sms = max(s["smCount"] for s in self.me["slots"]) if not gpu else torch.cuda.get_device_properties(self.device).multi_processor_count
        if gpu and self.quota_mode == "green":
            try:
                gpu_slots = sorted((s for r in contract["ranks"] if r["gpu"] == self.me["gpu"] for s in r["slots"]), key=lambda s: int(s["id"].split(".s")[1]))
                self._green = _GreenSlots(torch, self.device, self.me["slots"], self.total_sms, gpu_slots)
            except Exception as e:  # no cuda.bindings, old driver: run unpartitioned and say so
                self.quota_note = f"green contexts unavailable ({e}); slots run on the current stream"
        elif not gpu:
            self.quota_note = "CPU: slot() is the current stream"

        if init_process_group and not dist.is_initialized():
            dist.init_process_group(self.backend, init_method="env://", rank=rank, world_size=self.world_size, timeout=timedelta(seconds=int(os.environ.get("MOSAIC_TIMEOUT_S", "600"))))
        self._groups: Dict[str, Any] = {}
        if dist.is_initialized():
            for m in contract["modules"]:  # every rank creates every group, in the contract's order
                group = m["group"]
                self._groups[m["name"]] = dist.new_group(ranks=group) if len(group) > 1 else None

    # ---- what this rank runs ------------------------------------------------------------------
    def modules_here(self) -> List[str]:
        """Modules with a replica on this rank, in topological order."""
        return [n for n in self.order if any(r["rank"] == self.rank for r in self.modules[n]["replicas"])]

    def microbatches(self, module: str) -> List[int]:
        return [k for k, r in enumerate(self.owner[module]) if r == self.rank]

    def gradient_weight(self, module: str) -> float:
        """Samples of `module` on this rank / global batch (the sum of its replicas' weights here)."""
        return sum(r["gradientWeight"] for r in self.modules[module]["replicas"] if r["rank"] == self.rank)

    def group(self, module: str) -> Any:
        """The module's data-parallel process group (None when one rank holds all its replicas)."""
        return self._groups.get(module)

    def slot_sms(self, module: str) -> int:
        s = self.slot_of[module]
        if self._green and s["id"] in self._green.sm_counts:
            return self._green.sm_counts[s["id"]]
        return int(s["smCount"])

    @contextlib.contextmanager
    def slot(self, module: str):
        """Run the body on the stream of the module's SM quota (a no-op on CPU). The slot's stream first
        waits for the current stream; on exit the current stream waits for the slot's, unless inside
        colocated(), which joins all the slots used at its end so that they run at the same time."""
        if self.device.type != "cuda":
            yield None
            return
        torch = self.torch
        s = self.slot_of[module]
        stream = self._green.streams.get(s["id"]) if self._green else None
        carve = getattr(torch._C, "_set_sm_carveout_experimental", None)
        if stream is None:
            yield torch.cuda.current_stream(self.device)
            return
        current = torch.cuda.current_stream(self.device)
        stream.wait_stream(current)
        if carve is not None:
            carve(max(0, self.total_sms - self.slot_sms(module)) or None)
        try:
            with torch.cuda.stream(stream):
                yield stream
        finally:
            if carve is not None:
                carve(None)
            if self._colocated is not None:
                self._colocated.append(stream)
            else:
                current.wait_stream(stream)

    _colocated: Optional[List[Any]] = None

    @contextlib.contextmanager
    def colocated(self):
        """Slots entered inside run concurrently (each on its own SMs); joined at the end."""
        outer = self._colocated
        self._colocated = []
        try:
            yield
        finally:
            used, self._colocated = self._colocated, outer
            if self.device.type == "cuda":
                current = self.torch.cuda.current_stream(self.device)
                for st in used:
                    current.wait_stream(st)

    # ---- one iteration --------------------------------------------------------------------------
    def train_step(self, modules: Dict[str, Callable[..., Any]], source: Callable[[str, int], Any], loss: Callable[[str, Any, int], Any], sync_gradients: bool = False) -> float:
        """Forward and backward of every microbatch of the plan on this rank; returns Σ of this rank's
        sink losses (each a mean over its microbatch). Gradients accumulate in the modules' parameters,
        scaled so that the SUM over a module's group is the gradient of the mean loss over the batch.
        With sync_gradients=True that SUM is done here, in buckets overlapping the last backward
        (_BucketedSync); otherwise call allreduce_gradients afterwards. Either way the result is exact for
        uneven replica shares.

        modules[m](*inputs) maps the (micro, elements) activations of m's inputs (in `inputs` order) to
        its (micro, outputElementsPerSample) output; a source module gets source(m, k) instead.
        loss(m, output, k) is the mean loss of sink module m on microbatch k.
        """
        torch, dist = self.torch, self.dist
        scale = self.micro / self.global_batch
        total = 0.0
        me = self.rank
        syncs: Dict[str, _BucketedSync] = {}
        if sync_gradients:
            for n in self.modules_here():
                if self.modules[n]["trainable"] and self.group(n) is not None:
                    params = [p for p in getattr(modules[n], "parameters", lambda: [])() if p.requires_grad]
                    syncs[n] = _BucketedSync(self, n, params, self.microbatches(n)[-1])
        try:
            total = self._microbatches(modules, source, loss, scale, syncs)
            # What the backwards did not launch, on every rank in the same (topological) order, before any wait.
            for n in self.modules_here():
                if n in syncs:
                    syncs[n].launch_rest()
            for sync in syncs.values():
                sync.wait()
        finally:
            for sync in syncs.values():
                sync.close()
        self.last_sync = {n: {"buckets": len(s.buckets), "launchedInBackward": s.launched_in_backward} for n, s in syncs.items()}
        return total

    last_sync: Dict[str, Dict[str, int]] = {}

    def _microbatches(self, modules: Dict[str, Callable[..., Any]], source: Callable[[str, int], Any], loss: Callable[[str, Any, int], Any], scale: float, syncs: Dict[str, "_BucketedSync"]) -> float:
        torch, dist = self.torch, self.dist
        total = 0.0
        me = self.rank
        for k in range(self.microbatches_total):
            outputs: Dict[str, Any] = {}
            leaves: Dict[str, List[Any]] = {}
            losses: Dict[str, Any] = {}
            # Forward, in topological order; transfer (k, p -> c) happens when c is reached.
            for c in self.order:
                own = self.owner[c][k] == me
                xs: List[Any] = []
                for p in self.modules[c]["inputs"]:
                    src = self.owner[p][k]
                    dst = self.owner[c][k]
                    if src == me and own:
                        x = outputs[p].detach()
                    elif src == me:
                        dist.send(outputs[p].detach().contiguous(), dst)
                        continue
                    elif own:
                        x = torch.empty(self.micro, self.modules[p]["outputElementsPerSample"], dtype=self._dtype(modules), device=self.device)
                        dist.recv(x, src)
                    else:
                        continue
                    if self.needs_grad[p]:
                        x.requires_grad_(True)
                    xs.append(x)
                if not own:
                    continue
                leaves[c] = xs
                fn = modules[c]
                grad_ctx = contextlib.nullcontext() if self.needs_grad[c] else torch.no_grad()
                with self.slot(c), grad_ctx:
                    out = fn(*xs) if self.modules[c]["inputs"] else fn(source(c, k))
                outputs[c] = out
                if not self.consumers[c]:
                    losses[c] = loss(c, out, k)
                    total += float(losses[c].detach())
            # Backward, in reverse order; transfer of d(p) from c happens after c's backward.
            grads: Dict[str, Any] = {}
            for c in reversed(self.order):
                own = self.owner[c][k] == me
                if own and self.needs_grad[c]:
                    if c in syncs:
                        syncs[c].armed = k == syncs[c].last_k
                    with self.slot(c):
                        if c in losses:
                            torch.autograd.backward(losses[c] * scale)
                        elif c in grads:
                            torch.autograd.backward(outputs[c], grads[c])
                for i, p in enumerate(self.modules[c]["inputs"]):
                    if not self.needs_grad[p]:
                        continue
                    src = self.owner[c][k]
                    dst = self.owner[p][k]
                    if src == me:
                        g = leaves[c][i].grad
                        if g is None:
                            g = torch.zeros_like(leaves[c][i])
                        if dst == me:
                            grads[p] = g if p not in grads else grads[p] + g
                        else:
                            dist.send(g.contiguous(), dst)
                    elif dst == me:
                        g = torch.empty(self.micro, self.modules[p]["outputElementsPerSample"], dtype=self._dtype(modules), device=self.device)
                        dist.recv(g, src)
                        grads[p] = g if p not in grads else grads[p] + g
        return total

    def _dtype(self, modules: Dict[str, Any]) -> Any:
        for fn in modules.values():
            params = list(getattr(fn, "parameters", lambda: [])())
            if params:
                return params[0].dtype
        return self.torch.get_default_dtype()

    def allreduce_gradients(self, module: str, params: Iterable[Any], local_mean: bool = False) -> None:
        """SUM the module's gradients over its data-parallel group. With local_mean=True the gradients
        are the mean over this rank's samples and are weighted by gradient_weight(module) first."""
        torch, dist = self.torch, self.dist
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        if local_mean:
            w = self.gradient_weight(module)
            for g in grads:
                g.mul_(w)
        group = self.group(module)
        if group is None:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n

    def close(self) -> None:
        if self.dist.is_initialized():
            self.dist.destroy_process_group()


class _BucketedSync:
    """DDP-style gradient sync of one module on this rank: its parameters in reverse order (the order
    backward produces their gradients) cut into buckets of the contract's gradientBucketMiB; during the
    backward of the module's last local microbatch (``armed``), a hook after each parameter's gradient
    accumulation counts it, and every bucket whose parameters are all in is launched as an async SUM
    all-reduce, strictly in bucket order (so every rank of the group issues the same sequence).
    ``launch_rest`` launches what is left (a parameter the backward did not reach); ``wait`` waits and
    writes the sums back into ``.grad``."""

    def __init__(self, rt: "Runtime", module: str, params: List[Any], last_k: int):
        self.rt = rt
        self.group = rt.group(module)
        self.last_k = last_k
        self.armed = False
        cap = float(rt.contract.get("gradientBucketMiB", 25)) * 1024 * 1024
        self.buckets: List[List[Any]] = []
        size = 0.0
        for p in reversed(params):
            nbytes = p.numel() * p.element_size()
            if not self.buckets or (cap > 0 and size + nbytes > cap and self.buckets[-1]):
                self.buckets.append([])
                size = 0.0
            self.buckets[-1].append(p)
            size += nbytes
        self.bucket_of = {id(p): i for i, b in enumerate(self.buckets) for p in b}
        self.pending = [len(b) for b in self.buckets]
        self.launched: List[Any] = []  # (work, flat) per launched bucket, in order
        self.launched_in_backward = 0
        self._handles: List[Any] = []
        self._keep: List[Any] = []
        for p in params:
            self._hook(p)

    def _hook(self, p: Any) -> None:
        if hasattr(p, "register_post_accumulate_grad_hook"):  # torch >= 2.1
            self._handles.append(p.register_post_accumulate_grad_hook(lambda param: self._ready(param)))
            return
        # Older torch: a hook on the parameter's AccumulateGrad node runs after it accumulated (what DDP did).
        acc = p.expand_as(p).grad_fn.next_functions[0][0]
        self._keep.append(acc)
        self._handles.append(acc.register_hook(lambda *_unused, param=p: self._ready(param)))

    def _ready(self, p: Any) -> None:
        if not self.armed:
            return
        i = self.bucket_of[id(p)]
        self.pending[i] -= 1
        while len(self.launched) < len(self.buckets) and self.pending[len(self.launched)] <= 0:
            self._launch(len(self.launched))
            self.launched_in_backward += 1

    def _launch(self, i: int) -> None:
        torch, dist = self.rt.torch, self.rt.dist
        params = self.buckets[i]
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
        self.launched.append((dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=self.group, async_op=True), flat))

    def launch_rest(self) -> None:
        self.armed = False
        while len(self.launched) < len(self.buckets):
            self._launch(len(self.launched))

    def wait(self) -> None:
        for (work, flat), params in zip(self.launched, self.buckets):
            work.wait()
            offset = 0
            for p in params:
                n = p.numel()
                value = flat[offset : offset + n].view_as(p)
                if p.grad is None:
                    p.grad = value.clone()
                else:
                    p.grad.copy_(value)
                offset += n

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._keep = []


def init(backend: Optional[str] = None, contract: Optional[Dict[str, Any]] = None) -> Runtime:
    """This process's rank of the plan: reads MOSAIC_LAUNCH and RANK (set by `mosaic launch` or torchrun)."""
    contract = contract if contract is not None else load_contract()
    if "RANK" not in os.environ:
        raise RuntimeError("RANK is not set: start this script with `mosaic launch PLAN -- ...` or torchrun")
    rank = int(os.environ["RANK"])
    if not 0 <= rank < int(contract["worldSize"]):
        raise RuntimeError(f"RANK={rank} but the launch contract has {contract['worldSize']} ranks")
    me = contract["ranks"][rank]
    local = os.environ.get("LOCAL_RANK")
    if local is not None and int(local) != int(me["localRank"]):
        raise RuntimeError(f"rank {rank}: LOCAL_RANK={local} but the contract puts it at local rank {me['localRank']} (node {me['node']})")
    if int(os.environ.get("WORLD_SIZE", contract["worldSize"])) != int(contract["worldSize"]):
        raise RuntimeError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but the launch contract has {contract['worldSize']} ranks")
    if os.environ.get("MOSAIC_QUOTA_MODE") == "mps" and contract["device"] == "gpu":
        # torchrun cannot give each process its own environment: set the quota before CUDA starts.
        os.environ.setdefault("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", str(me["slots"][0]["mpsPercentage"]))
    return Runtime(contract, rank, backend)
