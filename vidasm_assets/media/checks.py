"""Checks measured on the outputs (Dagster-free; the asset layer reports them as blocking asset checks)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from .conform import PictureResult
from .loudness import LOUDNESS_TOLERANCE_LU, SILENCE_LUFS, AudioResult, measure_loudness
from .probe import MediaInfo, StreamKind, VideoInfo, probe
from .project import Project
from .runner import Run
from .timeline import Timeline


@dataclass(frozen=True)
class CheckOutcome:
    """One asset check's verdict, measured on the output (Dagster-free; the factory reports it)."""

    name: str
    passed: bool
    metadata: dict[str, Any]
    detail: str = ""  # what was measured against what was wanted, one line (default: the metadata's values)

    @property
    def summary(self) -> str:
        """One line: ``detail``, else every metadata value (``name value``, floats to two decimals)."""
        if self.detail:
            return self.detail
        return ", ".join(f"{k} {round(v, 2) if isinstance(v, float) else v}" for k, v in self.metadata.items())


def loudness_detail(loud: float | None, peak: float | None, target_i: float, target_tp: float) -> str:
    """What a ``loudness_on_target`` check measured, against the target: one line for the check's result."""
    measured = f"{loud:.1f} LUFS" if loud is not None and math.isfinite(loud) else "no loudness"
    tp = f", true peak {peak:.1f} dBTP" if peak is not None and math.isfinite(peak) else ""
    return (f"measured {measured} integrated{tp}; target {target_i:g} LUFS within {LOUDNESS_TOLERANCE_LU:g} LU, "
            f"true peak at most {target_tp:g} dBTP")  # fmt: skip


PICTURE_CHECKS = {
    "conforms_to_spec": "Timeline size, rate and frame count, square pixels, H.264 High yuv420p.",
    "bt709_tagged": "BT.709 primaries, transfer and matrix, limited range, tagged on the stream.",
    "duration_matches_source": "The conformed shot is as long as the render's picture, within one frame.",
}


AUDIO_CHECKS = {
    "loudness_on_target": "Programme audio within 1 LU of the target loudness (ebur128) and true peak under the "
    "ceiling; silent sources and renders without audio pass, reported as such.",
    "in_sync_with_picture": "Exactly as many 48 kHz samples as the picture's frames span, starting at the "
    "picture's first frame (the render's audio/video start offset compensated).",
}


CUT_CHECKS = {
    "duration_is_sum": "The cut's frames are the sum of its shots' frames; its audio is exactly as long.",
    "no_gap_at_joins": "Video and audio timestamps run on without a gap or overlap at every join.",
    "bt709_tagged": "The BT.709 tags survived the stream copy into the cut.",
    "loudness_on_target": "The cut's integrated loudness within 1 LU of the target and true peak under the ceiling.",
}

CHECK_TEXTS = {"picture": PICTURE_CHECKS, "audio": AUDIO_CHECKS, "cut": CUT_CHECKS}
"""What each asset's checks check, by asset name (the checks' descriptions, said with a failure)."""


BT709 = ("bt709", "bt709", "bt709", "tv")


def _tags(v: VideoInfo | None) -> tuple[str, ...]:
    return (v.color_primaries, v.color_trc, v.colorspace, v.color_range) if v else ()


def bt709_check(info: MediaInfo) -> CheckOutcome:
    got = _tags(info.video)
    return CheckOutcome("bt709_tagged", got == BT709, {"expected": "/".join(BT709), "got": "/".join(got)})


def picture_checks(project: Project, res: PictureResult) -> list[CheckOutcome]:
    rate = project.spec.rate
    w, h = project.spec.size
    v = res.info.video
    ok = (
        v is not None
        and v.frames == res.frames
        and (v.width, v.height) == (w, h)
        and v.rate == rate.fraction
        and v.sar == 1
        and v.pix_fmt == "yuv420p"
        and v.codec == "h264"
        and v.profile == "High"
    )
    got = f"{v.width}x{v.height} SAR {v.sar} {float(v.rate or 0):.3f} fps {v.frames} frames {v.codec} {v.profile} " \
          f"{v.pix_fmt}" if v else "no video"  # fmt: skip
    out = [
        CheckOutcome(
            "conforms_to_spec",
            bool(ok),
            {"expected": f"{w}x{h} SAR 1 {rate} fps {res.frames} frames h264 High yuv420p", "got": got},
        ),
        bt709_check(res.info),
    ]
    src = res.source.video if res.source else None
    if src is not None:
        made = rate.frames_to_seconds(res.frames)
        # a trimmed shot (sequence entries' in/out) uses part of the render: it must fit inside it
        used = min(made, src.duration) if res.trimmed else src.duration
        diff = abs(made - used)
        frame = rate.frames_to_seconds(1)
        out.append(
            CheckOutcome(
                "duration_matches_source",
                diff <= frame,
                {
                    "source_s": round(float(used), 4),
                    "conformed_s": round(float(made), 4),
                    "difference_ms": round(float(diff) * 1000, 2),
                    "tolerance_ms": round(float(frame) * 1000, 2),
                },
            )
        )
    return out


def audio_checks(project: Project, res: AudioResult, out: MediaInfo) -> list[CheckOutcome]:
    target_i = project.spec.audio.loudness_lufs
    target_tp = project.spec.audio.true_peak_db
    a = out.audio[0] if out.audio else None
    samples = a.samples if a else None
    loud_md: dict[str, Any] = {
        "mode": res.mode.value,
        "target_lufs": target_i,
        "ceiling_dbtp": target_tp,
        "loudness_lufs": res.output_i if res.output_i is not None else float("nan"),
        "true_peak_dbtp": res.output_tp if res.output_tp is not None else float("nan"),
    }
    in_sync = samples == res.samples and a is not None and a.sample_rate == 48000 and a.channels == 2
    return [
        CheckOutcome(
            "loudness_on_target",
            res.on_target(target_i, target_tp),
            loud_md,
            loudness_detail(res.output_i, res.output_tp, target_i, target_tp),
        ),
        CheckOutcome(
            "in_sync_with_picture",
            bool(in_sync),
            {"samples": samples or 0, "expected_samples": res.samples, "start_offset_compensated_s": res.offset_s},
        ),
    ]


SEGMENT_PARAMETERS = ("codec", "codec tag", "profile", "pix_fmt", "size", "sample aspect", "frame rate", "time base",
                      "colour primaries", "transfer", "matrix", "range", "field order", "codec header")  # fmt: skip


def codec_parameters(path: Path) -> dict[str, str]:
    """What a stream copy join needs equal in every segment (demuxer level, no decoding): codec, tag, profile,
    pixel format, size, aspect, rate, time base, colour tags, field order and the codec header (``extradata``:
    H.264/HEVC parameter sets, which carry the level; VP9/AV1 codec private data), by ``SEGMENT_PARAMETERS``."""
    with av.open(str(path)) as c:
        if not c.streams.video:
            return {"codec": "none"}
        s = c.streams.video[0]
        cc = s.codec_context
        header = bytes(cc.extradata or b"")
        values = (cc.name, str(cc.codec_tag), str(cc.profile), str(cc.pix_fmt), f"{cc.width}x{cc.height}",
                  str(cc.sample_aspect_ratio or 1), str(s.average_rate or s.base_rate), str(s.time_base),
                  str(cc.color_primaries), str(cc.color_trc), str(cc.colorspace), str(cc.color_range),
                  str(getattr(cc, "field_order", "")), hashlib.sha1(header).hexdigest()[:12])  # fmt: skip
    return dict(zip(SEGMENT_PARAMETERS, values, strict=True))


def segment_mismatches(paths: list[Path]) -> str:
    """Why ``paths`` cannot be joined by stream copy ("" when they can): each codec parameter that differs from
    the first segment's, naming the segments. FFmpeg's concat demuxer joins mismatched segments without an error
    (a VP9 segment in another pixel format decodes wrong, measured), so this check is the only guard."""
    if not paths:
        return ""
    first = codec_parameters(paths[0])
    problems = []
    for path in paths[1:]:
        params = codec_parameters(path)
        diff = [k for k in SEGMENT_PARAMETERS if params.get(k) != first.get(k)]
        if diff:
            what = ", ".join(f"{k} {params.get(k)} (first: {first.get(k)})" for k in diff[:3])
            problems.append(f"{path.name} differs from {paths[0].name} in {what}")
    return "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")


def _stream_packets(path: Path, kind: StreamKind) -> list[tuple[int, int]]:
    """(pts, duration) of every packet of the first ``kind`` stream, demuxed only (no decoding)."""

    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind is StreamKind.VIDEO else c.streams.audio[0]
        return sorted((int(p.pts), int(p.duration or 0)) for p in c.demux(stream) if p.pts is not None and p.size)


def cut_checks(run: Run, project: Project, timeline: Timeline, path: Path) -> list[CheckOutcome]:
    rate = timeline.rate
    info = probe(path)
    v = info.video
    frames = v.frames if v else 0
    samples = info.audio[0].samples if info.audio else None
    # each shot is rounded to whole samples on its own (at 29.97 a frame is 1601.6 samples): within half a
    # sample per shot of the exact length, never drifting
    want_samples = timeline.total_samples()  # minus the overlaps of dissolves (transitions.py)
    joins = timeline.record_starts()[1:]
    out = [
        CheckOutcome(
            "duration_is_sum",
            frames == timeline.total_frames and samples == want_samples,
            {
                "frames": frames,
                "sum_of_shots": timeline.total_frames,
                "samples": samples or 0,
                "expected_samples": want_samples,
                "shots": ", ".join(f"{c.shot}:{c.frames}" for c in timeline.clips),
            },
        )
    ]
    vpk = _stream_packets(path, StreamKind.VIDEO)
    step = rate.timescale * rate.den // rate.num
    vgaps = [i for i in range(1, len(vpk)) if vpk[i][0] - vpk[i - 1][0] != step]
    apk = _stream_packets(path, StreamKind.AUDIO)
    agaps = [i for i in range(1, len(apk)) if apk[i][0] != apk[i - 1][0] + apk[i - 1][1]]
    bad_joins = [j for j in joins if j in vgaps or j >= len(vpk)]
    out.append(
        CheckOutcome(
            "no_gap_at_joins",
            not vgaps and not agaps and len(vpk) == timeline.total_frames,
            {
                "joins_at_frames": ", ".join(map(str, joins)) or "none",
                "video_discontinuities": ", ".join(map(str, vgaps[:20])) or "none",
                "audio_discontinuities": len(agaps),
                "bad_joins": ", ".join(map(str, bad_joins)) or "none",
            },
        )
    )
    out.append(bt709_check(info))
    target_i = project.spec.audio.loudness_lufs
    target_tp = project.spec.audio.true_peak_db
    loud, peak = measure_loudness(run, path, samples=samples)
    programme = math.isfinite(loud) and loud > SILENCE_LUFS
    ok = not programme or (abs(loud - target_i) <= LOUDNESS_TOLERANCE_LU and (peak is None or peak <= target_tp))
    out.append(
        CheckOutcome(
            "loudness_on_target",
            ok,
            {
                "loudness_lufs": loud,
                "true_peak_dbtp": peak if peak is not None else float("nan"),
                "target_lufs": target_i,
                "ceiling_dbtp": target_tp,
                "programme_audio": programme,
            },
            loudness_detail(loud, peak, target_i, target_tp) if programme else "no programme audio (silence)",
        )
    )
    return out


MIX_CHECKS = {
    "loudness_on_target": "The mix (programme and music bed) within 1 LU of the target loudness (ebur128) and true "
    "peak under the ceiling.",
    "exact_length": "Exactly the cut's samples at 48 kHz stereo (Rate.samples_for_frames of its frames).",
}


def mix_checks(project: Project, res: AudioResult, out: MediaInfo, samples: int) -> list[CheckOutcome]:
    """The mix's checks, measured on it (``MIX_CHECKS``)."""
    target_i, target_tp = project.spec.audio.loudness_lufs, project.spec.audio.true_peak_db
    a = out.audio[0] if out.audio else None
    got = a.samples if a else None
    exact = got == samples and a is not None and a.sample_rate == 48000 and a.channels == 2
    return [
        CheckOutcome("loudness_on_target", res.on_target(target_i, target_tp), {
            "mode": res.mode.value, "target_lufs": target_i, "ceiling_dbtp": target_tp,
            "loudness_lufs": res.output_i if res.output_i is not None else float("nan"),
            "true_peak_dbtp": res.output_tp if res.output_tp is not None else float("nan")}),
        CheckOutcome("exact_length", bool(exact), {"samples": got or 0, "expected_samples": samples}),
    ]  # fmt: skip
