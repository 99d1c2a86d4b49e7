#!/usr/bin/env bash
# Issue 15 on the GPU machine's 16 CPU cores: benchmarks/ray_scale.py on 1, 2, 4 and 8 workers,
# synthetic 1280x720 sources (the machine has no PyAV, and since media.schemes a synthetic
# pipeline imports none). Carry .raydev (scripts/ray_bundle.sh) and .h2whl (pydantic & co.).
# The JSON and the log come back under $OUT.
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
site=/tmp/ray-site
mkdir -p "$site" && tar -C "$site" -xJf .raydev/ray-site.tar.xz || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$site" \
  .raydev/*.whl .h2whl/*.whl || exit 1
export PYTHONPATH=$site:$PWD/src PYTHONUNBUFFERED=1 VISIONFLOW_CACHE=/tmp/vfcache RAY_USAGE_STATS_ENABLED=0
nproc; python3 -c "import ray, sys; print('ray', ray.__version__, sys.version.split()[0])" || exit 1
timeout "${LIMIT:-540}" python3 benchmarks/ray_scale.py --source synthetic --workers 1,2,4,8 \
  --streams 4 --frames "${FRAMES:-240}" --repeat "${REPEAT:-2}" --json "$OUT/ray_scale.json" 2>&1 \
  | grep -v Warning | tee "$OUT/ray_scale.log" | tail -40
