#!/usr/bin/env bash
# The one call a lent GPU machine gets (docs/accelerator_check.md): installs the wheels that
# scripts/pack_for_device.py put in .device/, then runs scripts/device_session.py, whose docstring
# says what runs; everything that comes back is written to $OUT. The device call, with .device carried:
#   bash scripts/device_session.sh
# Rehearsal on a CPU: OUT=/tmp/session bash scripts/device_session.sh --dry-run
started=$(date +%s.%N)
set -u
out=${OUT:?set OUT to the folder that comes back}
python=${PYTHON:-python3}
if [ -d .device/wheels ]; then
  $python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .device/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
exec $python scripts/device_session.py --out "$out" --started "$started" "$@"
