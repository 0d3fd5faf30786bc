"""Real-time factor of the local csm text-to-speech engine (audio seconds per wall-clock second).

Usage: python bench/bench_tts.py [--repeat N] [--engines piper espeak-ng]
Prints machine facts, each backend's load time (s) and, per voice, the median wall time (s),
audio length (s) and real-time factor of synthesising one paragraph to MP3. Nothing is asserted;
other work on the machine skews the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_info

try:
    from c3_render_csm import engine as tts
except ImportError:  # running from a checkout without the plugin installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "csm"))
    from c3_render_csm import engine as tts

PARAGRAPH = [
    "The quarterly report arrived late on Friday afternoon, just as most of the team was leaving.",
    "It showed that sales in the northern region had grown by almost twelve percent.",
    "Nobody had expected such a strong result after the difficult winter.",
    "The manager asked everyone to stay for a short meeting to discuss what had gone right.",
    "After an hour of lively debate, they agreed to repeat the campaign in the spring.",
]


def bench_engine(engine_name: str, repeat: int, workdir: Path) -> None:
    started = time.perf_counter()
    engine = tts.SpeechEngine(engine=engine_name)
    try:
        voices = engine.voices()  # forces the lazy load
    except tts.SpeechUnavailable as error:
        print(f"{engine_name}: unavailable: {error}")
        return
    print(f"{engine_name}: model {voices['model']}, load {time.perf_counter() - started:.2f} s")
    engine.synthesize(PARAGRAPH[:1], workdir / "warm-up.mp3")  # first inference allocates buffers
    for voice in ("conversational_a", "conversational_b"):
        walls, audio_seconds = [], 0.0
        for run in range(repeat):
            started = time.perf_counter()
            result = engine.synthesize(PARAGRAPH, workdir / f"{engine_name}-{voice}-{run}.mp3", voice=voice)
            walls.append(time.perf_counter() - started)
            audio_seconds = result.duration_seconds
        wall = statistics.median(walls)
        print(
            f"  {voice}: audio {audio_seconds:.2f} s, wall {wall:.2f} s (median of {repeat}), "
            f"real-time factor {audio_seconds / wall:.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per voice (median reported)")
    parser.add_argument("--engines", nargs="+", default=["piper", "espeak-ng"], choices=["piper", "espeak-ng"])
    args = parser.parse_args()
    print(machine_info())
    words = sum(len(sentence.split()) for sentence in PARAGRAPH)
    print(f"paragraph: {len(PARAGRAPH)} sentences, {words} words; MP3 encoding included in wall time")
    with tempfile.TemporaryDirectory() as workdir:
        for engine_name in args.engines:
            bench_engine(engine_name, args.repeat, Path(workdir))


if __name__ == "__main__":
    main()
