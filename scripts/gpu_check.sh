#!/usr/bin/env bash
# Issue 11 (H2) on the GPU machine, in one call: GPU tests, the done-when CLI checks against the
# CPU runs made on a CPU machine (.h2gpu/*.jsonl), and benchmarks/gpu_streams.py.
# Needs carried: .whl (PyNvVideoCodec), .h2whl (pydantic & co.), .h2gpu (clip, CPU metadata,
# DeepStream-Yolo config + model, yolov8n.onnx). Usage: scripts/gpu_check.sh [quick|full]
mode=${1:-full}
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$PWD/.site" \
  .whl/*.whl .h2whl/*.whl || exit 1
export PYTHONPATH=$PWD/.site:$PWD/src:$PWD/tests PYTHONUNBUFFERED=1 VISIONFLOW_CACHE=/tmp/vfcache
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
vf() { python3 -c 'import sys; from visionflow.cli import app; sys.argv[0] = "visionflow"; app()' "$@"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"

echo "== 1. done-when: visionflow infer --device cuda vs the CPU run"
T0=$(date +%s)
runs="src/visionflow/zoo/models/shapes_det.infer.yml@gpu_fp32@cpu.jsonl"
[ "$mode" = compact ] && runs=""
for run in $runs ".h2gpu/shapes_fp16.infer.yml@gpu_fp16@cpu.jsonl" \
           ".h2gpu/dsyolo/config_infer_primary_yoloV8.txt@dsyolo_gpu@dsyolo_cpu.jsonl"; do
  IFS=@ read -r cfg name ref <<< "$run"; set -- "$cfg" "$name" "$ref"
  timeout 45 vf infer --config "$1" --input .h2gpu/clip.mp4 --device cuda --meta "$OUT/$2.jsonl" \
    --no-progress > "$OUT/$2.log" 2>&1; echo "$2 exit $?"; tail -4 "$OUT/$2.log"
  python3 scripts/meta_compare.py ".h2gpu/$3" "$OUT/$2.jsonl"
done
echo "cli: $(( $(date +%s) - T0 )) s"

echo "== 2. gpu-streams"
T0=$(date +%s)
if [ "$mode" = quick ]; then
  timeout 150 python3 benchmarks/gpu_streams.py --streams 1,16 --frames 120 --clip-frames 120 \
    --warmup 10 --model .h2gpu/yolov8n.onnx --workdir /tmp/bench 2>&1 | tee "$OUT/bench.log" | grep -v Warning
elif [ "$mode" = compact ]; then
  timeout 80 python3 benchmarks/gpu_streams.py --streams 1,16,64 --frames 150 --clip-frames 150 \
    --warmup 20 --model .h2gpu/yolov8n.onnx --workdir /tmp/bench 2>&1 | tee "$OUT/bench.log" | grep -v Warning
  echo "bench 1080p threads: $(( $(date +%s) - T0 )) s"
else
  timeout 110 python3 benchmarks/gpu_streams.py --streams 1,16,64 --frames 240 \
    --model .h2gpu/yolov8n.onnx --workdir /tmp/bench 2>&1 | tee "$OUT/bench.log" | grep -v Warning
  echo "bench 1080p threads: $(( $(date +%s) - T0 )) s"
  timeout 60 python3 benchmarks/gpu_streams.py --streams 64 --frames 240 --processes 4 \
    --model .h2gpu/yolov8n.onnx --workdir /tmp/bench 2>&1 | tee "$OUT/bench_p4.log" | grep -v Warning
  echo "bench 1080p 4 processes: $(( $(date +%s) - T0 )) s"
fi
echo "== 3. gpu tests"
T0=$(date +%s)
gpu_tests="tests/infer/test_gpu_parse.py tests/infer/backends/test_torch_gpu.py"
[ "$mode" = compact ] && gpu_tests=tests/infer/backends/test_torch_gpu.py
timeout 75 python3 -m pytest -q -s -p no:cacheprovider $gpu_tests 2>&1 | tee "$OUT/tests.log" | grep -E "passed|failed|error|fp16 engine|Error" | tail -15
echo "tests: $(( $(date +%s) - T0 )) s"

if [ "$mode" = compact ]; then
  echo "== 4. 64 x 1080p, 4 decode processes"
  T0=$(date +%s)
  timeout 45 python3 benchmarks/gpu_streams.py --streams 64 --frames 150 --clip-frames 150 \
    --warmup 20 --processes 4 --model .h2gpu/yolov8n.onnx --workdir /tmp/bench 2>&1 \
    | tee "$OUT/bench_p4.log" | grep -v Warning
  echo "bench 1080p 4 processes: $(( $(date +%s) - T0 )) s"
fi
if [ "$mode" = full ]; then
  echo "== 4. 128 x 720p"
  T0=$(date +%s)
  timeout 70 python3 benchmarks/gpu_streams.py --streams 128 --size 720p --frames 180 --processes 4 \
    --model .h2gpu/yolov8n.onnx --workdir /tmp/bench 2>&1 | tee "$OUT/bench720.log" | grep -v Warning
  echo "bench 720p: $(( $(date +%s) - T0 )) s"
fi
