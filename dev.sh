#!/usr/bin/env bash
# One entry point for a fresh machine: creates or reuses .venv, installs the package,
# then runs the demo shot or the tests.
#   ./dev.sh demo [--out DIR] [--frames N]
#   ./dev.sh test [pytest args]
set -euo pipefail
cd "$(dirname "$0")"

pick_python() {
    # mediapipe 0.10.21 (tracking backend) supports Python 3.9-3.12.
    for py in "${PYTHON:-}" python3.11 python3.12 python3.10 python3; do
        [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
        if "$py" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))'; then
            echo "$py"; return 0
        fi
    done
    echo "dev.sh: need Python 3.10-3.12 (mediapipe 0.10.21 supports no newer); set PYTHON=/path/to/python" >&2
    return 2
}

pip_quiet() {
    # pip's own chatter goes to a log; it is shown only when the install fails.
    local log=$1; shift
    echo "dev.sh: pip install $*" >&2
    if ! .venv/bin/python -m pip install "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "dev.sh: pip install failed; full log in $log" >&2
        exit 1
    fi
}

setup_venv() {
    if [ ! -x .venv/bin/python ]; then
        "$(pick_python)" -m venv .venv
    fi
    local stamp=.venv/.vfx_double_stamp
    local want
    want=$(cat pyproject.toml dev.sh | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    local log=.venv/setup.log
    # Install torch before the package so pip keeps this build: here that is the local CPU
    # wheel; a studio sets VFX_DOUBLE_TORCH (e.g. a CUDA build) to pick its own.
    if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
        pip_quiet "$log" "${VFX_DOUBLE_TORCH:-torch==2.13.0}"
    fi
    # deadline, opencue: the farm backends' clients, so their tests run (pyproject.toml says
    # why opencue's grpcio-tools is pinned: protobuf stays <5 for mediapipe)
    pip_quiet "$log" -e ".[test,deadline,opencue,dailies]"
    # The default tracker; its face models ship inside this wheel (works offline). --no-deps:
    # see pyproject.toml, whose dependencies list what it needs.
    pip_quiet "$log" --no-deps "mediapipe==0.10.21"
    # The `fan` tracker's model definition (torch only). --no-deps: its numba and
    # opencv-python are not used, and opencv-python would replace headless cv2.
    pip_quiet "$log" --no-deps "face-alignment==1.5.0"
    echo "$want" > "$stamp"
}

cmd=${1:-}
shift || true
case "$cmd" in
    demo)
        setup_venv
        exec .venv/bin/vfx-double demo "${@:---out=demo_out}"
        ;;
    test)
        setup_venv
        exec .venv/bin/python -m pytest "$@"
        ;;
    setup)
        setup_venv
        ;;
    *)
        echo "usage: ./dev.sh demo [--out DIR] | test [pytest args] | setup" >&2
        exit 2
        ;;
esac
