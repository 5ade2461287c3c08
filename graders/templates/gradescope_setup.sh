#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04 or later).
#
# It installs Python 3.11 and the pinned environment (torch==2.13.0 first, the CPU build, then the exact
# versions of requirements.lock), bubblewrap for the sandbox, and makes this folder (the grader with the
# hidden checks of `@ASSIGNMENT@`) readable by root only: student code runs as another user, in a
# bubblewrap sandbox or, where bubblewrap cannot start, as a uid of its own (graders/sandbox/uid.py).
#
# Environment, for testing this script outside Gradescope:
#   GRADERS_AUTOGRADER_ROOT   the /autograder folder (default /autograder)
#   GRADERS_VENV              where to create the environment (default /opt/graders-venv)
#   GRADERS_SETUP_REUSE_VENV  an existing environment that already holds requirements.lock: nothing is
#                             installed or downloaded, and that environment is used as it is
set -euo pipefail

ROOT="${GRADERS_AUTOGRADER_ROOT:-/autograder}"
SRC="$ROOT/source"
VENV="${GRADERS_VENV:-/opt/graders-venv}"

if [ -n "${GRADERS_SETUP_REUSE_VENV:-}" ]; then
    VENV="$GRADERS_SETUP_REUSE_VENV"
    echo "setup.sh: using the existing environment $VENV (nothing installed)"
else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    if ! command -v python3.11 >/dev/null 2>&1; then
        # Ubuntu 22.04 has python3.11 in its archive; later releases get it from the deadsnakes PPA
        if ! apt-get install -y -q python3.11 python3.11-venv; then
            apt-get install -y -q software-properties-common
            add-apt-repository -y ppa:deadsnakes/ppa
            apt-get update -q
            apt-get install -y -q python3.11 python3.11-venv
        fi
    fi
    apt-get install -y -q python3.11-venv || true
    apt-get install -y -q bubblewrap || echo "setup.sh: bubblewrap could not be installed; workers will run in the uid sandbox" >&2
    python3.11 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # torch first, pinned, from the CPU wheel index (PyPI's default build would pull CUDA libraries)
    "$VENV/bin/pip" install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
    "$VENV/bin/pip" install -q -r "$SRC/requirements.lock"
    # the worker runs as another user: the environment must be readable by everyone
    chmod -R a+rX "$VENV"
fi

# the grader and its hidden checks: root only (the uid sandbox refuses to start otherwise)
printf '%s\n' "$VENV" > "$SRC/venv-path"
chmod -R go-rwx "$SRC"
chmod 0700 "$SRC"

# the grader imports, and knows its assignment
PYTHONPATH="$SRC/grader" "$VENV/bin/python" -c "from graders.course import get_assignment; a = get_assignment('@ASSIGNMENT@'); print(f'setup.sh: grader ready for {a.name} ({a.max_score:g} points)')"
