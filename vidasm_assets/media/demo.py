"""Synthetic renders and a demo workspace made with FFmpeg's lavfi sources (nothing downloaded)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .outputs import atomic_output, write_text_atomic
from .runner import run_ffmpeg


@dataclass(frozen=True)
class RenderSpec:
    """What a synthetic render looks like; audio_db=None means no audio stream."""

    width: int = 320
    height: int = 180
    fps: str = "24"
    seconds: float = 2.0
    audio_db: float | None = -20.0
    sample_rate: int = 48000
    channels: int = 2
    tone_hz: int = 440
    pattern: str = "testsrc2"
    video_codec: str = "libx264"
    timecode: str | None = None  # start timecode written into the container


def render_cmd(ffmpeg: str, dest: Path, spec: RenderSpec) -> list[str]:
    v = f"{spec.pattern}=s={spec.width}x{spec.height}:r={spec.fps}:d={spec.seconds}"
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", v]
    if spec.audio_db is not None:
        layout = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}[spec.channels]
        a = f"sine=f={spec.tone_hz}:r={spec.sample_rate}:d={spec.seconds}"
        argv += ["-f", "lavfi", "-i", a]
        argv += ["-af", f"volume={spec.audio_db:g}dB,aformat=channel_layouts={layout}"]
    ext = dest.suffix.lower()
    vcodec = ["-c:v", spec.video_codec]
    if spec.video_codec == "libx264":
        vcodec += ["-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    argv += vcodec
    if spec.audio_db is not None:
        argv += ["-c:a", "pcm_s16le" if ext == ".mov" else "aac", "-ar", str(spec.sample_rate)]
    if spec.timecode:
        argv += ["-timecode", spec.timecode]
    argv += ["-shortest", "-f", {".mov": "mov", ".mkv": "matroska"}.get(ext, "mp4"), str(dest)]
    return argv


def make_render(ffmpeg: str, dest: Path, spec: RenderSpec | None = None) -> Path:
    """Write one synthetic render (atomically: a complete file or none). FFmpeg's own error is raised, typed and
    with its stderr (``runner.run_ffmpeg``), never swallowed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        run_ffmpeg(render_cmd(ffmpeg, tmp, spec or RenderSpec()), path=dest)
    return dest


def write_project(root: Path, name: str, spec: dict) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("03_Renders", "04_Project_Files/assemblies", "05_Cache", "06_Exports"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "project.json", json.dumps(spec, indent=2) + "\n")
    return folder


DEMO_MARKER = ".vidasm-demo"
"""Written first into a demo workspace: ``scripts/demo.sh`` reruns ``vidasm demo`` where it finds one, so an
interrupted demo is finished rather than left without renders."""

TRAILER = {"fps": 24, "resolution": "640x360", "exports": ["web"]}
TRAILER_RENDERS = {
    "sh010_v001": RenderSpec(640, 360, "24", 2.5, -30, pattern="testsrc"),
    "sh010_v002": RenderSpec(640, 360, "24", 2.5, -28, pattern="rgbtestsrc"),
    "sh010_v003": RenderSpec(640, 360, "24", 3.0, -26, pattern="testsrc2"),
    "sh020_v001": RenderSpec(1280, 720, "30", 2.0, -8, tone_hz=660),
    "sh030_v001": RenderSpec(320, 240, "25", 3.0, -24, tone_hz=330),
    "sh040_v001": RenderSpec(640, 360, "24", 2.0, None, pattern="smptehdbars"),
    "sh050_v001.mov": RenderSpec(480, 270, "24", 2.0, -18, sample_rate=44100, tone_hz=550),
}
TEASER = {
    "fps": 25,
    "resolution": "480x270",
    "audio": {"loudness_lufs": -16, "true_peak_db": -1.0},
    "exports": ["web"],
    "sequence": [
        {"shot": "op010", "scene": "1", "beat": "cold open"},
        {"shot": "op030", "scene": "1", "beat": "reveal", "notes": "swapped ahead of op020 for pace"},
        {"shot": "op020", "take": "take01", "scene": "2", "beat": "turn"},
        {"shot": "op040", "scene": "3", "beat": "button"},
        {"shot": "op050", "scene": "3", "beat": "title card"},
    ],
}
TEASER_RENDERS = {
    "op010_v001": RenderSpec(480, 270, "25", 2.0, -12, tone_hz=500),
    "op020_take01": RenderSpec(480, 270, "25", 2.0, -20, pattern="rgbtestsrc"),
    "op020_take02": RenderSpec(480, 270, "25", 2.0, -22, pattern="testsrc"),
    "op030_v001": RenderSpec(640, 480, "24", 2.0, -34, tone_hz=300),
    "op040_v001.mov": RenderSpec(480, 270, "30", 2.0, -16, sample_rate=44100),
    "op050_v001": RenderSpec(320, 180, "25", 2.0, None, pattern="smptehdbars"),
}
DEMO_PROJECTS: dict[str, tuple[dict, dict[str, RenderSpec]]] = {
    "trailer": (TRAILER, TRAILER_RENDERS),
    "teaser": (TEASER, TEASER_RENDERS),
}


def make_demo_workspace(ffmpeg: str, root: Path) -> list[Path]:
    """Two small, deliberately heterogeneous projects (sizes, rates, no audio, MOV 44.1 kHz, loudness).

    Idempotent and complete: renders already there are kept (each was written atomically, so one that exists is
    whole), missing ones are made, and a project's project.json is written only after all its renders, so an
    interrupted demo never leaves a project without renders; running it again finishes it. A project.json that
    exists is left as it is (it may have been edited). Returns the renders written this time.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / DEMO_MARKER).write_text("written by `vidasm demo`; delete this file to keep scripts/demo.sh away\n")
    made = []
    for name, (spec, renders) in DEMO_PROJECTS.items():
        folder = root / name
        for stem, rs in renders.items():
            filename = stem if "." in stem else f"{stem}.mp4"
            dest = folder / "03_Renders" / filename.split("_")[0] / filename
            if dest.is_file() and dest.stat().st_size > 0:
                continue
            made.append(make_render(ffmpeg, dest, rs))
        if not (folder / "project.json").is_file():
            write_project(root, name, spec)
    return made


def make_placeholder_workspace(root: Path, projects: int, shots: int, size: int = 64, age_s: float = 3600) -> set[str]:
    """Many projects of tiny non-media files, aged past any settle time: for sensor scale tests and benchmarks."""
    import os
    import time

    old = time.time() - age_s
    names = set()
    for p in range(projects):
        name = f"p{p:02d}"
        names.add(name)
        proj = root / name
        (proj / "03_Renders").mkdir(parents=True)
        (proj / "project.json").write_text("{}")
        for s in range(shots):
            d = proj / "03_Renders" / f"s{s:03d}"
            d.mkdir()
            f = d / f"s{s:03d}_v001.mp4"
            f.write_bytes(os.urandom(size))
            os.utime(f, (old, old))
    return names
