"""The HTTP load generator of the API benchmarks: wrk (Debian's package), installed when missing."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class WrkResult:
    """One wrk run: requests per second, latency percentiles (ms), requests that failed."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def ensure_wrk() -> str:
    """The wrk binary; installs Debian's package (as root) when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed (apt-get install wrk)")
    return found


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> WrkResult:
    """Read requests/s, p50, p99 and the error count from ``wrk --latency`` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _milliseconds(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _milliseconds(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return WrkResult(rps, p50, p99, errors, requests)


def run_wrk(url: str, *, method: str = "GET", body: str | None = None, threads: int = 2,
            connections: int = 32, seconds: float = 10.0) -> WrkResult:
    """Load ``url`` for ``seconds`` with ``connections`` keep-alive connections on ``threads`` threads."""
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "request.lua"
        lines = [f'wrk.method = "{method}"', 'wrk.headers["Content-Type"] = "application/json"']
        if body is not None:
            lines.append(f"wrk.body = [[{body}]]")
        script.write_text("\n".join(lines) + "\n")
        done = subprocess.run([wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
                               "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    return parse(done.stdout)
