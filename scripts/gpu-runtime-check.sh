#!/usr/bin/env bash
# The PyTorch runtime on a real GPU (issue 10): a two-module colocated step through python/mosaic_runtime
# under green contexts, each module's step time at two SM counts. Needs python3 with torch (2.9+ with
# cuda.bindings for green contexts); no Node, no network. From the repo root, writing under $OUT:
#   bash scripts/gpu-runtime-check.sh            # on the GPU machine
#   bash scripts/gpu-runtime-check.sh --dry-run  # here: the same code on the CPU, tiny sizes
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
PY=${PYTHON:-python3}
"$PY" -c 'import torch' 2>/dev/null || PY=/usr/bin/python3
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
train_check() {
  local quota=green dir="$OUT/train"
  [ "${1:-}" = cpu ] && quota=none
  rm -rf "$dir" && mkdir -p "$dir"
  MOSAIC_LAUNCH=scripts/gpu-runtime-contract.json RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=${MASTER_PORT:-29631} \
    MOSAIC_QUOTA_MODE=$quota "$PY" python/examples/train_builtin.py --steps 4 --out "$dir" 2>&1 | tee -a "$OUT/runtime-check.log" || return 1
  "$PY" python/examples/train_builtin.py --reference --steps 4 --out "$dir" 2>&1 | tee -a "$OUT/runtime-check.log" || return 1
  "$PY" python/examples/train_builtin.py --compare --out "$dir" 2>&1 | tee -a "$OUT/runtime-check.log"
  return "${PIPESTATUS[0]}"
}
if [ "${1:-}" = "--dry-run" ]; then
  "$PY" scripts/gpu-runtime-check.py --dry-run --out "$OUT" 2>&1 | tee "$OUT/runtime-check.log"
  status=${PIPESTATUS[0]}
  # The contract the script builds must pass the schema (needs the TypeScript build).
  if [ "$status" = 0 ] && [ -f dist/src/launch/contract.js ] && command -v node >/dev/null; then
    "$PY" -c "import json,sys; sys.path.insert(0,'scripts'); import importlib; m=importlib.import_module('gpu-runtime-check'); print(json.dumps(m.contract_for((32,88),132,'gpu',4096,8192)))" > "$OUT/contract.json" &&
      node -e 'const c=require("./dist/src/launch/contract"); const p=c.checkContract(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")), process.argv[1]); if (p.length) { console.error(p.join("\n")); process.exit(1) } console.log("contract valid against schemas/launch.schema.json")' "$OUT/contract.json" || status=1
  fi
  [ "$status" = 0 ] && { train_check cpu || status=1; }
  [ "$status" = 0 ] && echo "dry run ok"
  exit "$status"
fi
{ nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader; "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } 2>&1 | tee "$OUT/runtime-check.log"
"$PY" scripts/gpu-runtime-check.py --out "$OUT" "$@" 2>&1 | tee -a "$OUT/runtime-check.log"
status=${PIPESTATUS[0]}
# The built-in model trained through the runtime on this GPU under green contexts (one rank, two slots:
# image+audio on 32 SMs, head on 88; scripts/gpu-runtime-plan.json), against the CPU single-process reference.
train_check
exit $(( status | $? ))
