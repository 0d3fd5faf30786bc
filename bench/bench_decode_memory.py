"""Peak memory of decoding the worst small input: an all-zero 6300x6300 RGBA PNG (~154 KB on disk).

Run: python bench/bench_decode_memory.py [--threads 4] [--budget-mb 1024]
Each case runs in a fresh Python process; the figure is its peak RSS (VmHWM) minus the
RSS after imports, for 1 decode and for ``--threads`` decodes started at once in one process
(one per worker thread). Paths: portrait's upload preparation (remote) and frame loading
(local engine), analyze's vision encoding (remote) and its local-engine decode.
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

CASE = r"""
import sys, threading
from pathlib import Path
from render_core.sdk import image_decode
import c3_render_portrait.remote_inputs as remote_inputs, c3_render_portrait.images as images
import c3_render_analyze.vision as vision, c3_render_analyze.loading as loading

what, threads, budget_mb, png, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5])
image_decode.configure(budget_mb * image_decode.MIB, min(512, budget_mb) * image_decode.MIB)

def status_mib(field):  # VmHWM is this process's own peak: ru_maxrss would count the parent's RSS at fork
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field + ":")) / 1024

def run(i):
    target = out / str(i); target.mkdir(parents=True, exist_ok=True)
    if what == "portrait-remote": remote_inputs.prepare_image(png, target)
    elif what == "portrait-local": images.load_portrait_frame(png)
    elif what == "analyze-vision": vision.encode_image(png)
    else:
        with loading.open_header(png, 40) as image: loading.decode_upright(image, 2048)

base = status_mib("VmRSS")
workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
print(f"{status_mib('VmHWM') - base:.0f}")
"""

CASES = ("portrait-remote", "portrait-local", "analyze-vision", "analyze-local")


def make_png(path: Path) -> None:
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((6300, 6300, 4), np.uint8), "RGBA").save(path)


def peak_mib(case: str, threads: int, budget_mb: int, png: Path, out: Path) -> str:
    done = subprocess.run([sys.executable, "-c", CASE, case, str(threads), str(budget_mb), str(png), str(out)],
                          capture_output=True, text=True, timeout=600)
    return done.stdout.strip() if done.returncode == 0 else f"error: {done.stderr.strip()[-200:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--budget-mb", type=int, default=1024, help="DECODE_MEMORY_MB of the measured process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        png = Path(scratch) / "zero-6300x6300-rgba.png"
        make_png(png)
        print(f"machine: {machine_info()}")
        print(f"input: all-zero 6300x6300 RGBA PNG, {png.stat().st_size / 1000:.0f} KB; "
              f"DECODE_MEMORY_MB={args.budget_mb}; figure: peak RSS above the RSS after imports (MiB)")
        for case in CASES:
            one = peak_mib(case, 1, args.budget_mb, png, Path(scratch) / "out")
            many = peak_mib(case, args.threads, args.budget_mb, png, Path(scratch) / "out")
            print(f"  {case:16s} 1 decode: {one:>6s} MiB   {args.threads} at once: {many:>6s} MiB")


if __name__ == "__main__":
    main()
