"""Benchmark of the offline image-analysis engine: seconds per 1024x768 JPEG for
report-only, report + faces, report + OCR and everything, printed with machine info.

Usage: python bench/bench_analyze.py [--runs 5]
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

try:
    from c3_render_analyze.engine import analyze_image
except ImportError:  # run from a checkout without the plugin installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "analyze"))
    from c3_render_analyze.engine import analyze_image

MODES = {
    "report only": {"ocr": False, "faces": False},
    "report + faces": {"ocr": False, "faces": True},
    "report + OCR": {"ocr": True, "faces": False},
    "report + faces + OCR": {"ocr": True, "faces": True},
}
PACKAGES = ("pillow", "numpy", "opencv-python-headless", "rapidocr", "onnxruntime")


def make_test_image(path: Path) -> None:
    """A 1024x768 JPEG: the scikit-image astronaut (or a gradient) beside printed text."""
    canvas = Image.new("RGB", (1024, 768), (235, 235, 240))
    try:
        from skimage import data

        canvas.paste(Image.fromarray(data.astronaut()).resize((640, 640)), (0, 64))
    except ImportError:
        gradient = Image.linear_gradient("L").resize((640, 640)).convert("RGB")
        canvas.paste(gradient, (0, 64))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=44)
    for row, words in enumerate(("HELLO WORLD", "Image analysis", "on the CPU")):
        draw.text((670, 250 + row * 80), words, font=font, fill=(20, 20, 20))
    canvas.save(path, quality=90)


def machine_info() -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return [
        f"machine: {platform.platform()}, {cpu}, {os.cpu_count()} logical CPUs",
        f"load average at start: {', '.join(f'{value:.2f}' for value in load)}",
        f"python {platform.python_version()}; " + ", ".join(versions),
    ]


def time_call(path: Path, options: dict) -> float:
    """Seconds for one analyze_image call."""
    start = time.perf_counter()
    analyze_image(path, **options)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs per mode")
    args = parser.parse_args()
    for line in machine_info():
        print(line)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.jpg"
        make_test_image(path)
        print(f"image: 1024x768 JPEG, {path.stat().st_size / 1024:.0f} KiB; {args.runs} warm runs")
        start = time.perf_counter()
        first = analyze_image(path)
        cold = time.perf_counter() - start
        print(f"summary: {first.text.splitlines()[0]}")
        print(f"first full call in this process (loads the cascade and OCR models): {cold:.3f} s")
        print(f"{'mode':<22} {'median s':>9} {'min s':>7} {'max s':>7}")
        for name, options in MODES.items():
            warm = [time_call(path, options) for _ in range(args.runs)]
            print(f"{name:<22} {statistics.median(warm):9.3f} {min(warm):7.3f} {max(warm):7.3f}")


if __name__ == "__main__":
    main()
