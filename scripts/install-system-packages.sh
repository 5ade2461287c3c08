#!/bin/sh
# Debian packages the grader uses: bubblewrap (the sandbox), chromium (browser tests) and postgresql
# (the gradebook tests start a throwaway server of their own).
# Installs them when it can (root, or password-less sudo); otherwise warns and carries on:
# grading then runs without a sandbox (loudly) and browser tests skip.
set -u
PKGS="${*:-bubblewrap}"
missing=""
for p in $PKGS; do
  case "$p" in
    bubblewrap) command -v bwrap >/dev/null 2>&1 || missing="$missing $p" ;;
    chromium) command -v chromium >/dev/null 2>&1 || missing="$missing $p" ;;
    postgresql) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing $p" ;;
    *) dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p" ;;
  esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "warning: cannot install$missing (not root, no password-less sudo); install them with: apt-get install -y$missing" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "warning: no apt-get here; install$missing with your package manager" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends $missing >/tmp/graders-apt.log 2>&1 || {
  $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y --no-install-recommends $missing >/tmp/graders-apt.log 2>&1
} || echo "warning: apt-get could not install$missing (see /tmp/graders-apt.log); continuing without" >&2
exit 0
