#!/usr/bin/env bash
# Retrain the bundled shapes detector on the GPU machine (issue 14: class confusions on the demo):
# fine-tune the bundled model on 24,000 generated scenes; the ONNX, labels and training record
# come back under $OUT. Needs nothing carried (numpy, OpenCV, torch, ONNX, ONNX Runtime are there).
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 580 python3 scripts/train_shapes_detector.py --device cuda --minutes "${MINUTES:-5.5}" \
  --images 24000 --workers 15 --threads 8 --batch 64 --lr 1e-3 --warmup 200 --log-every 500 \
  --init src/visionflow/zoo/models/shapes_det.onnx --out "$OUT/shapes_det.onnx" 2>&1 \
  | grep -v "^ Average" | tee "$OUT/train.log" | tail -40
