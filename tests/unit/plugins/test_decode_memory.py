"""Image decodes stay within a memory budget: per image (accounting for bands) and per process.

The worst small input is an all-zero 6300x6300 RGBA PNG: 154 KB on disk, 151 MiB decoded.
Before the budget one portrait decode of it peaked at 909 MiB above the process's baseline and
four at once at 3.3 GiB (analyze: 520 MiB and 2.0 GiB). Peaks are measured in a fresh process.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from c3_render_analyze.errors import BadImage as AnalyzeBadImage
from c3_render_analyze.loading import decode_upright, open_header
from c3_render_portrait.errors import BadImage
from c3_render_portrait.remote_inputs import prepare_image
from PIL import Image

from render_core.sdk import image_decode
from render_core.sdk.image_decode import DecodeBudget, DecodeStopped, ImageTooLarge, decode_cost

MIB = 1024 * 1024
SIDE = 6300


def _write_zero_png(path: Path, mode: str) -> Path:
    """Written by a child process, so this one never holds the decoded image."""
    subprocess.run([sys.executable, "-c", "import sys; from PIL import Image; "
                    f"Image.new({mode!r}, ({SIDE}, {SIDE})).save(sys.argv[1])", str(path)], check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def worst_png(tmp_path_factory) -> Path:
    return _write_zero_png(tmp_path_factory.mktemp("decode") / "zero-rgba.png", "RGBA")


@pytest.fixture(scope="module")
def grey_png(tmp_path_factory) -> Path:
    return _write_zero_png(tmp_path_factory.mktemp("decode") / "zero-l.png", "L")


@pytest.fixture
def small_budget():
    """An image may reserve at most 120 MiB in this test (the process keeps its budget otherwise)."""
    image_decode.configure(1024 * MIB, 120 * MIB)
    yield
    image_decode.configure(image_decode.DEFAULT_BUDGET_BYTES, image_decode.DEFAULT_IMAGE_MAX_BYTES)


# ---------------------------------------------------------------- the budget itself


def test_the_estimate_accounts_for_bands(worst_png, grey_png):
    with Image.open(worst_png) as rgba, Image.open(grey_png) as grey:
        assert rgba.size == grey.size
        full_rgba, full_grey = SIDE * SIDE * 4, SIDE * SIDE * 1
        assert decode_cost(rgba, 2048) - decode_cost(grey, 2048) >= full_rgba - full_grey


def test_an_image_over_the_per_image_limit_is_refused_before_decoding(worst_png, grey_png, small_budget):
    with pytest.raises(BadImage, match="too large to process"):
        prepare_image(worst_png, worst_png.parent)
    prepared = prepare_image(grey_png, grey_png.parent)  # as many pixels, a quarter of the bytes
    assert (prepared.width, prepared.height) == (2048, 2048)
    with open_header(worst_png, 40) as image, pytest.raises(AnalyzeBadImage, match="too large to decode"):
        decode_upright(image, 2048)


def test_decodes_wait_for_their_share_and_a_stop_ends_the_wait():
    budget = DecodeBudget(total_bytes=100, image_max_bytes=80)
    with pytest.raises(ImageTooLarge):
        with budget.reserve(81):
            pass
    first_holds, second_in = threading.Event(), threading.Event()
    release_first = threading.Event()

    def first():
        with budget.reserve(60):
            first_holds.set()
            release_first.wait(10)

    def second():
        with budget.reserve(60):
            second_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_holds.wait(10)
    threads[1].start()
    assert not second_in.wait(0.5), "the second decode did not wait for the budget"
    assert budget.in_use == 60
    release_first.set()
    assert second_in.wait(10)
    for thread in threads:
        thread.join(10)
    assert budget.in_use == 0

    with budget.reserve(60), pytest.raises(DecodeStopped):
        with budget.reserve(60, should_stop=lambda: True):
            pass


# ---------------------------------------------------------------- peak memory, measured

PEAK = r"""
import sys, threading
from pathlib import Path
from render_core.sdk import image_decode
from c3_render_portrait.remote_inputs import prepare_image
from c3_render_analyze.vision import encode_image
png, out, threads, budget = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
image_decode.configure(budget * 1024 * 1024, 512 * 1024 * 1024)
def status_mib(field):  # VmHWM is this process's own peak: ru_maxrss would count the parent's RSS at fork
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field + ":")) / 1024
base = status_mib("VmRSS")
def run(i):
    (out / str(i)).mkdir(parents=True, exist_ok=True)
    prepare_image(png, out / str(i)) if i % 2 == 0 else encode_image(png)
workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
print(status_mib("VmHWM") - base)
"""


def peak_above_baseline_mib(png: Path, out: Path, threads: int, budget_mib: int) -> float:
    done = subprocess.run([sys.executable, "-c", PEAK, str(png), str(out), str(threads), str(budget_mib)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return float(done.stdout.strip())


def test_one_decode_of_the_worst_input_holds_it_once(worst_png, tmp_path):
    """151 MiB decoded, reduced in strips: well under two full-size copies (it was six)."""
    assert peak_above_baseline_mib(worst_png, tmp_path, threads=1, budget_mib=1024) < 2 * 151 + 100


def test_four_decodes_at_once_stay_near_the_process_budget(worst_png, tmp_path):
    """WORKER_THREADS=4 decodes of the worst input with a 512 MiB budget: two run, two wait."""
    assert peak_above_baseline_mib(worst_png, tmp_path, threads=4, budget_mib=512) < 512 + 200
