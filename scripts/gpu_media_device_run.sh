#!/bin/bash
# The GPU machine's run of the media half of the GPU path and the torch tests: the ``gpu`` tests,
# then scripts/gpu_media_check.py on a clip made here (H100/H200 have no NVENC; the tests make
# theirs with PyAV's x264 there). Needs .gpu-media/ (git-ignored; carry it) holding:
#   site/PyNvVideoCodec, site/pynvvideocodec.  (PyNvVideoCodec 2.2.4 unpacked, NVENC 13 build only)
#   av, pydantic, pydantic_core, annotated_types, typing_inspection, typing_extensions wheels (cp312)
#   clip_1080p.mp4 (scripts/gpu_final.sh's clip)
# Results under $OUT: pytest.log, check.log, gpu_media.json.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu-media/*.whl || exit 1
export PYTHONPATH=$PWD/.gpu-media/site:/tmp/site:$PWD/src:$PWD/tests PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
timeout 300 python3 -m pytest -q -p no:cacheprovider -rA \
  tests/media/test_nvdec.py tests/mux/test_gpu_batch.py tests/infer/test_gpu_preprocess.py \
  tests/osd/test_gpu_draw.py tests/sinks/test_nvenc.py tests/test_app_gpu.py \
  tests/media/test_select.py tests/core/test_host_copies.py tests/infer/test_gpu_parse.py \
  tests/infer/test_gpu_path.py tests/infer/backends/test_torch_gpu.py > "$OUT/pytest.log" 2>&1
echo "pytest rc=$?"
grep -E "passed|failed|error" "$OUT/pytest.log" | tail -3
grep -E "^(FAILED|ERROR|SKIPPED)" "$OUT/pytest.log" | cut -c1-300 | head -40
mkdir -p /tmp/gm
timeout 200 python3 scripts/gpu_media_check.py --clip .gpu-media/clip_1080p.mp4 \
  --out /tmp/gm/gpu_media.json 2>&1 | tee "$OUT/check.log" | cut -c1-600
cp /tmp/gm/gpu_media.json "$OUT/" 2>/dev/null
