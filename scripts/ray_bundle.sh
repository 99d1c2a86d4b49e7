#!/usr/bin/env bash
# Ray for the GPU machine (Python 3.12, 16 cores), small enough for a device call's 64 MiB:
# Ray's cp312 wheel (79 MB) without its Java jars, dashboard web client and RLlib, as one
# tar.xz (~29 MB), plus jsonschema and its dependencies (the only Ray requirements missing
# there). Writes .raydev/ (git-ignored). On the machine:
#   mkdir -p /tmp/ray-site && tar -C /tmp/ray-site -xJf .raydev/ray-site.tar.xz &&
#   python3 -m pip install -q --no-index --no-deps --target /tmp/ray-site .raydev/*.whl
#   export PYTHONPATH=/tmp/ray-site:$PWD/src
set -e
version=$(python3 -m pip show ray 2>/dev/null | sed -n 's/^Version: //p')
version=${version:-2.60.0}
work=$(mktemp -d)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 -d "$work/wheel" "ray==$version"
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$work/deps" jsonschema
mkdir -p "$work/site" .raydev
(cd "$work/site" && python3 -m zipfile -e "$work"/wheel/ray-*.whl . \
  && rm -rf ray/jars ray/dashboard/client/build ray/rllib \
  && chmod +x ray/core/src/ray/gcs/gcs_server ray/core/src/ray/raylet/raylet)  # zipfile drops modes
tar -C "$work/site" -cJf .raydev/ray-site.tar.xz .
cp "$work"/deps/jsonschema*.whl "$work"/deps/referencing*.whl "$work"/deps/rpds_py*.whl .raydev/
rm -rf "$work"
grep -qx '/.raydev/' .git/info/exclude || echo /.raydev/ >> .git/info/exclude
du -sh .raydev
