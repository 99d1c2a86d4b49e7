#!/usr/bin/env bash
# The last device call of issue 11's session: the done-when CLI parity (GPU vs CPU objects) and
# gpu-streams with clips made on the CPU (H100/H200 have no NVENC). Carry .whl .h2whl .h2gpu.
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$PWD/.site" \
  .whl/*.whl .h2whl/*.whl || exit 1
export PYTHONPATH=$PWD/.site:$PWD/src:$PWD/tests PYTHONUNBUFFERED=1 VISIONFLOW_CACHE=/tmp/vfcache
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for run in "src/visionflow/zoo/models/shapes_det.infer.yml@gpu_fp32@cpu_fp32.jsonl@0.001" \
           ".h2gpu/shapes_fp16.infer.yml@gpu_fp16@cpu_fp32.jsonl@0.01" \
           ".h2gpu/dsyolo/config_infer_primary_yoloV8.txt@dsyolo_gpu@dsyolo_cpu.jsonl@0.01"; do
  IFS=@ read -r cfg name ref tol <<< "$run"
  timeout 60 python3 -m visionflow.cli infer --config "$cfg" --input .h2gpu/clip.mp4 --device cuda \
    --meta "$OUT/$name.jsonl" --no-progress > "$OUT/$name.log" 2>&1; echo "$name exit $?"
  tail -3 "$OUT/$name.log"
  python3 scripts/meta_compare.py ".h2gpu/$ref" "$OUT/$name.jsonl" --score "$tol"
done
timeout 150 python3 benchmarks/gpu_streams.py --streams 1,16,64 --frames 150 --clip-frames 150 \
  --warmup 10 --clip .h2gpu/clip_1080p.mp4 --model .h2gpu/yolov8n.onnx --workdir /tmp/bench 2>&1 \
  | tee "$OUT/bench.log" | grep -v Warning
echo "== 64 x 1080p, 4 decode processes"
timeout 70 python3 benchmarks/gpu_streams.py --streams 64 --frames 150 --clip-frames 150 \
  --warmup 10 --processes 4 --clip .h2gpu/clip_1080p.mp4 --model .h2gpu/yolov8n.onnx \
  --workdir /tmp/bench 2>&1 | tee "$OUT/bench_p4.log" | grep -v Warning
echo "== 128 x 720p, 4 decode processes"
timeout 90 python3 benchmarks/gpu_streams.py --streams 128 --size 720p --frames 150 \
  --clip-frames 150 --warmup 10 --processes 4 --clip .h2gpu/clip_720p.mp4 \
  --model .h2gpu/yolov8n.onnx --workdir /tmp/bench 2>&1 | tee "$OUT/bench720.log" | grep -v Warning
