#!/usr/bin/env bash
# One device session (../shared/GPU.md): the physics sweep, then the native CUDA backend on a real GPU.
# Usage on the GPU machine, from the repo root, carrying .device, dist and native/build:
#   bash scripts/gpu-check.sh            (writes under $OUT)
#   bash scripts/gpu-check.sh --dry-run  (checks the script here, no GPU)
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
if [ "${1:-}" = "--dry-run" ]; then
  python3 -m py_compile scripts/gpu-sweep.py && python3 scripts/gpu-sweep.py --dry-run --out "$OUT" && node -e "require('./dist/src/engine/native.js')" && echo "dry run ok"
  exit $?
fi
export PYTHONUNBUFFERED=1
nvidia-smi -L
python3 scripts/gpu-sweep.py --out "$OUT" --budget-s "${SWEEP_BUDGET_S:-260}"
if [ -f .device/node.xz ]; then
  xz -d < .device/node.xz > /tmp/node && chmod +x /tmp/node && export PATH=/tmp:$PATH
  ln -sfn "$PWD/.device/app/node_modules" node_modules
  node -e '
    const n = require("./dist/src/engine/native.js");
    const out = { probe: n.cudaProbe() };
    try {
      const dev = out.probe.devices[0];
      const p = n.cudaCreatePartition(0, [64, 32, 16]);
      out.partition = p; n.cudaDestroyPartition(p.id);
    } catch (e) { out.partitionError = String(e && e.message || e); }
    try { n.cudaRunGraph({ contexts: [], tasks: [], buffers: [] }); } catch (e) { out.runGraph = String(e.message || e); }
    require("fs").writeFileSync(process.env.OUT + "/native-cuda.json", JSON.stringify(out, null, 2));
    console.log(JSON.stringify(out));
  '
fi
