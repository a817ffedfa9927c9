"""One set of assets per project, keys prefixed by the project name.

Why a factory and not multi-dimensional partitions: the webserver and daemons only honour built-in
partition mappings, and a (project x shot) cross product invents phantom partitions (see
shared/notes/dagster-findings.md). Each project gets its own dynamic partitions of shots; project-level
assets depend on all of them with the default mapping.
"""

import warnings
from dataclasses import dataclass, field

import dagster as dg

from ..media import assembly, checks, conform, fingerprints, loudness, shots
from ..media import versions as v
from ..media.editorial import write_cmx3600, write_fcp_xml, write_otio
from ..media.errors import VidasmError
from ..media.outputs import stamped, write_text_atomic
from ..media.probe import MediaInfo, probe
from ..media.project import Project
from ..media.timeline import Timeline
from ..resources import FFmpegResource, WorkspaceResource
from . import metadata
from . import names as n
from .automation import ROLLUP_AUTOMATION
from .versions import FAILED_CHECKS_KEY, INPUTS_KEY, failed_checks, recorded_version

# Project roll-ups follow their shots by themselves (ROLLUP_AUTOMATION, eager): it waits until no upstream run
# is in progress, so a batch of shot runs yields one cut, not one per shot. Shots are launched by the sensor.


def _check_specs(key: dg.AssetKey, checks: dict[str, str]) -> list[dg.AssetCheckSpec]:
    """Blocking checks: a failed one stops the downstream assets of the same run."""
    return [dg.AssetCheckSpec(name, asset=key, blocking=True, description=text) for name, text in checks.items()]


def _checked(result_kw: dict, outcomes: list[checks.CheckOutcome]) -> dg.MaterializeResult:
    """A materialization with its check results, and the names of the failed ones in its metadata
    (``FAILED_CHECKS_KEY``): a consumer in a later run reads them there and refuses the output (a blocking check
    only stops the rest of its own run)."""
    failed = [c.name for c in outcomes if not c.passed]
    metadata = {**result_kw.pop("metadata"), FAILED_CHECKS_KEY: ", ".join(failed) or "none"}
    if INPUTS_KEY in result_kw:
        metadata[INPUTS_KEY] = result_kw.pop(INPUTS_KEY)
    checks = [
        dg.AssetCheckResult(
            check_name=c.name,
            passed=bool(c.passed),
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=metadata.metadata_safe(c.metadata),
        )
        for c in outcomes
    ]
    return dg.MaterializeResult(metadata=metadata, check_results=checks, **result_kw)


@dataclass
class ProjectAssets:
    project: str
    partitions: dg.DynamicPartitionsDefinition
    assets: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    presets: list[str] = field(default_factory=list)


def _shot_context(workspace: WorkspaceResource, project_name: str, shot: str):
    project = workspace.project(project_name)
    if shot not in project.shots():
        raise VidasmError(f"shot {shot} is not in project {project_name}'s sequence", path=project.root)
    take = project.select_take(shot)
    info = probe(take.path)
    cache = fingerprints.load_fingerprints(project)
    fp = fingerprints.render_fingerprint(take, cache)
    fingerprints.save_fingerprints(project, cache)
    inputs = v.shot_inputs(fp, take.label, v.spec_facets(project))
    return project, take, info, fp, inputs


def _take_metadata(take, info: MediaInfo, fp: str) -> dict:
    src = info.video
    md = {
        "take": take.label,
        "render": dg.MetadataValue.path(str(take.path)),
        "render_fingerprint": fp,
    }
    if src:
        md["source"] = f"{src.width}x{src.height} {float(src.rate or 0):.3f} fps {src.codec}"
    md["source_audio"] = (
        "; ".join(f"{a.codec} {a.sample_rate} Hz {a.layout}" + (f" ({a.title})" if a.title else "") for a in info.audio)
        or "none"
    )
    return md


def _versioned(inputs: v.Inputs) -> dict:
    """The data version of an output and its named inputs (kept so a later status can say what changed)."""
    return {"data_version": dg.DataVersion(inputs.version), INPUTS_KEY: dg.MetadataValue.json(inputs.to_record())}


def _result(inputs: v.Inputs, metadata: dict) -> dg.MaterializeResult:
    versioned = _versioned(inputs)
    metadata = {**metadata, INPUTS_KEY: versioned.pop(INPUTS_KEY)}
    return dg.MaterializeResult(metadata=metadata, **versioned)


def current_input(
    instance: dg.DagsterInstance, project: Project, key: dg.AssetKey, partition: str | None = None
) -> str:
    """The recorded data version of an upstream output this step reads, after checking that it may be read: it
    was built, passed its blocking checks, and the file on disk is the one recorded (its stamp). Raises
    ``VidasmError`` naming the output otherwise: a consumer never reads what a crash, a failed check or a hand
    edit left behind."""
    asset = key.path[-1]
    label = f"{asset} of shot {partition}" if partition else asset
    recorded = recorded_version(instance, key, partition)
    outputs = project.outputs(asset, partition)
    if recorded is None:
        raise VidasmError(f"{project.name}: the {label} has not been built", path=outputs[0])
    failed = failed_checks(instance, key, partition)
    if failed:
        raise VidasmError(
            f"{project.name}: the {label} failed check(s) {', '.join(failed)}; an output that failed a blocking "
            "check is never used (fix the render or the settings and rebuild it)",
            path=outputs[0],
        )
    if project.built_version(asset, partition) != recorded:
        raise VidasmError(
            f"{project.name}: {outputs[0]} is not the {label} recorded as built (a build was interrupted, or the "
            "file was changed by hand); rebuild it",
            path=outputs[0],
        )
    return recorded


def _read_timeline(instance: dg.DagsterInstance, project: Project) -> tuple[Timeline, str]:
    """The timeline (typed) and its recorded version, from the one file the timeline asset writes."""
    version = current_input(instance, project, n.key(project.name, n.TIMELINE))
    return Timeline.from_json(project.timeline_path().read_text()), version


def build_project_assets(project_name: str, presets: list[str]) -> ProjectAssets:
    """Assets, checks and jobs for one project."""
    with warnings.catch_warnings():
        # observable sources and pools are beta/preview in 1.13; we rely on them knowingly.
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _build_project_assets(project_name, presets)


def _build_project_assets(project_name: str, presets: list[str]) -> ProjectAssets:
    P = project_name
    parts = dg.DynamicPartitionsDefinition(name=n.shots_partitions_name(P))
    k = {
        name: n.key(P, name)
        for name in (
            n.RENDER,
            n.PICTURE_SPEC,
            n.AUDIO_SPEC,
            n.EDIT_SPEC,
            n.PICTURE,
            n.AUDIO,
            n.TIMELINE,
            n.CUT,
            n.EDL,
            n.OTIO,
        )
    }

    @dg.observable_source_asset(
        key=k[n.RENDER],
        partitions_def=parts,
        group_name=n.SOURCES_GROUP,
        description="The selected take of each shot in 03_Renders; its data version is the take's content hash.",
    )
    def render(context, workspace: WorkspaceResource) -> dg.DataVersionsByPartition:
        project = workspace.project(P)
        cache = fingerprints.load_fingerprints(project)
        versions: dict[str, str] = {}
        for shot in context.instance.get_dynamic_partitions(parts.name):
            try:
                versions[shot] = fingerprints.render_fingerprint(project.select_take(shot), cache)
            except VidasmError as exc:
                context.log.warning(str(exc))
                versions[shot] = "missing"
        fingerprints.save_fingerprints(project, cache)
        return dg.DataVersionsByPartition(versions)

    def spec_source(facet: v.Asset, what: str):
        @dg.observable_source_asset(key=k[facet.value], group_name=n.SOURCES_GROUP, description=what)
        def _observe(workspace: WorkspaceResource) -> dg.DataVersion:
            return dg.DataVersion(v.facet_versions(workspace.project(P))[facet])

        return _observe

    picture_spec = spec_source(v.Asset.PICTURE_SPEC, "project.json's picture settings (resolution, fps, HDR).")
    audio_spec = spec_source(v.Asset.AUDIO_SPEC, "project.json's audio settings (loudness, true peak, tracks, fps).")
    edit_spec = spec_source(v.Asset.EDIT_SPEC, "project.json's sequence: order, pinned takes, story metadata.")

    picture_checks = _check_specs(k[n.PICTURE], checks.PICTURE_CHECKS)

    @dg.asset(
        key=k[n.PICTURE],
        partitions_def=parts,
        deps=[k[n.RENDER], k[n.PICTURE_SPEC]],
        group_name=n.SHOTS_GROUP,
        kinds={"ffmpeg"},
        code_version=v.CODE_VERSIONS[v.Asset.PICTURE],
        pool=n.FFMPEG_POOL,
        check_specs=picture_checks,
        description="The shot conformed to the timeline: size (letter/pillarbox), constant fps, yuv420p, "
        "BT.709, closed GOP H.264 at the web delivery's settings so the cut can be a stream copy.",
    )
    def picture(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        shot = context.partition_key
        project, take, info, fp, inputs = _shot_context(workspace, P, shot)
        mine = inputs[v.Asset.PICTURE]
        with stamped(project.stamps(n.PICTURE, shot, mine.version)):
            run = ffmpeg.runner(context, f"{P}/{shot} picture")
            res = conform.conform_picture(run, project, take, info)
        md = metadata.media_metadata(res.info)
        return _checked(
            {
                **_versioned(mine),
                "metadata": {
                    **md,
                    **_take_metadata(take, info, fp),
                    **metadata.picture_report(res),
                    "path": dg.MetadataValue.path(str(res.path)),
                },
            },
            checks.picture_checks(project, res),
        )

    audio_checks = _check_specs(k[n.AUDIO], checks.AUDIO_CHECKS)

    @dg.asset(
        key=k[n.AUDIO],
        partitions_def=parts,
        deps=[k[n.RENDER], k[n.AUDIO_SPEC]],
        group_name=n.SHOTS_GROUP,
        kinds={"ffmpeg"},
        code_version=v.CODE_VERSIONS[v.Asset.AUDIO],
        pool=n.FFMPEG_POOL,
        check_specs=audio_checks,
        description="The shot's audio: 48 kHz stereo PCM, two-pass EBU R128 loudness normalized, exactly as "
        "long as the picture (silence when the render has none).",
    )
    def audio(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        shot = context.partition_key
        project, take, info, fp, inputs = _shot_context(workspace, P, shot)
        mine = inputs[v.Asset.AUDIO]
        run = ffmpeg.runner(context, f"{P}/{shot} audio")
        frames = shots.shot_frames(info, project.spec.rate)
        with stamped(project.stamps(n.AUDIO, shot, mine.version)):
            res = loudness.normalize_audio(run, project, take, info, frames)
        out = probe(res.path)
        md = {
            **metadata.media_metadata(out),
            **_take_metadata(take, info, fp),
            **metadata.audio_report(res),
            "path": dg.MetadataValue.path(str(res.path)),
            "target_lufs": project.spec.audio.loudness_lufs,
            "ceiling_dbtp": project.spec.audio.true_peak_db,
        }
        return _checked({**_versioned(mine), "metadata": md}, checks.audio_checks(project, res, out))

    @dg.asset(
        key=k[n.TIMELINE],
        deps=[k[n.RENDER], k[n.EDIT_SPEC], k[n.PICTURE_SPEC]],
        group_name=n.EDITORIAL_GROUP,
        code_version=v.CODE_VERSIONS[v.Asset.TIMELINE],
        automation_condition=ROLLUP_AUTOMATION,
        description="The cut as an edit decision model (shots in story order, takes, exact frame durations), "
        "from render headers only. Its data version changes only when editorial content changes.",
    )
    def timeline(context: dg.AssetExecutionContext, workspace: WorkspaceResource) -> dg.MaterializeResult:
        project = workspace.project(P)
        tl = assembly.build_timeline(project)
        mine = v.timeline_inputs(tl)
        with stamped(project.stamps(n.TIMELINE, None, mine.version)):
            write_text_atomic(project.timeline_path(), tl.to_json())
        unreadable = [f"{c.shot}: {c.source_timecode_error}" for c in tl.clips if c.source_timecode_error]
        if unreadable:  # the cut still builds; the EDL and OTIO/FCP XML refuse these shots, naming them
            context.log.warning("unreadable source timecode: " + "; ".join(unreadable))
        return _result(
            mine,
            {
                "path": dg.MetadataValue.path(str(project.timeline_path())),
                "shots": len(tl.clips),
                "frames": tl.total_frames,
                "duration_s": round(float(tl.rate.frames_to_seconds(tl.total_frames)), 4),
                "fps": str(tl.rate),
                "order": ", ".join(f"{c.shot}:{c.take}" for c in tl.clips),
                **({"source_timecode_errors": "\n".join(unreadable)} if unreadable else {}),
            },
        )

    cut_checks = _check_specs(k[n.CUT], checks.CUT_CHECKS)

    @dg.asset(
        key=k[n.CUT],
        deps=[k[n.PICTURE], k[n.AUDIO], k[n.TIMELINE]],
        group_name=n.ASSEMBLY_GROUP,
        kinds={"ffmpeg"},
        code_version=v.CODE_VERSIONS[v.Asset.CUT],
        check_specs=cut_checks,
        automation_condition=ROLLUP_AUTOMATION,
        pool=n.FFMPEG_POOL,
        description="All shots joined in story order by stream copy (no re-encode): H.264 picture, PCM audio, "
        "frame-exact joins.",
    )
    def cut(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        project = workspace.project(P)
        tl, tv = _read_timeline(context.instance, project)
        shots: dict[str, tuple[str, str]] = {}
        cache = fingerprints.load_fingerprints(project)
        for clip in tl.clips:
            if clip.placeholder:  # a slate, rendered by assemble_cut; the timeline's version covers it
                continue
            pv = current_input(context.instance, project, k[n.PICTURE], clip.shot)
            av = current_input(context.instance, project, k[n.AUDIO], clip.shot)
            wanted = assembly.expected_shot_inputs(project, clip, cache)
            if (pv, av) != (wanted[v.Asset.PICTURE].version, wanted[v.Asset.AUDIO].version):
                raise VidasmError(
                    f"shot {clip.shot} of {P}: its picture/audio were not built from {clip.clip_name} (its last "
                    "build failed or is stale); build the shot first, the cut never uses an older render",
                    path=clip.source_path,
                )
            shots[clip.shot] = (pv, av)
        fingerprints.save_fingerprints(project, cache)
        mine = v.cut_inputs(tv, shots)
        run = ffmpeg.runner(context, f"{P} cut")
        with stamped(project.stamps(n.CUT, None, mine.version)):
            path = assembly.assemble_cut(run, project, tl)
        info = probe(path)
        placeholders = [c.shot for c in tl.clips if c.placeholder]
        return _checked(
            {
                **_versioned(mine),
                "metadata": {
                    **metadata.media_metadata(info),
                    "path": dg.MetadataValue.path(str(path)),
                    "shots": len(tl.clips),
                    "expected_frames": tl.total_frames,
                    "placeholders": ", ".join(placeholders) or "none",
                },
            },
            checks.cut_checks(run, project, tl, path),
        )

    @dg.asset(
        key=k[n.EDL],
        deps=[k[n.TIMELINE]],
        group_name=n.EDITORIAL_GROUP,
        code_version=v.CODE_VERSIONS[v.Asset.EDL],
        automation_condition=ROLLUP_AUTOMATION,
        description="CMX3600 EDL of the cut for the editor's NLE (04_Project_Files/assemblies).",
    )
    def edl(context: dg.AssetExecutionContext, workspace: WorkspaceResource) -> dg.MaterializeResult:
        project = workspace.project(P)
        tl, tv = _read_timeline(context.instance, project)
        style = project.spec.editorial.edl_style
        text = write_cmx3600(tl, style=style)
        mine = v.edl_inputs(tv, style)
        with stamped(project.stamps(n.EDL, None, mine.version)):
            write_text_atomic(project.edl_path(), text)
        return _result(
            mine,
            {
                "path": dg.MetadataValue.path(str(project.edl_path())),
                "events": len(tl.clips),
                "style": style,
                "record_start": tl.record_start,
                "preview": dg.MetadataValue.md("```\n" + "\n".join(text.splitlines()[:24]) + "\n```"),
            },
        )

    @dg.asset(
        key=k[n.OTIO],
        deps=[k[n.TIMELINE]],
        group_name=n.EDITORIAL_GROUP,
        code_version=v.CODE_VERSIONS[v.Asset.OTIO],
        automation_condition=ROLLUP_AUTOMATION,
        description="OpenTimelineIO timeline (.otio) and FCP 7 XML (.xml) of the cut, for Resolve and Premiere.",
    )
    def otio_timeline(context: dg.AssetExecutionContext, workspace: WorkspaceResource) -> dg.MaterializeResult:
        project = workspace.project(P)
        tl, tv = _read_timeline(context.instance, project)
        mine = v.otio_inputs(tv)
        with stamped(project.stamps(n.OTIO, None, mine.version)):
            write_otio(tl, project.otio_path())
            write_fcp_xml(tl, project.fcp_xml_path())
        return _result(
            mine,
            {
                "path": dg.MetadataValue.path(str(project.otio_path())),
                "fcp_xml": dg.MetadataValue.path(str(project.fcp_xml_path())),
                "clips": len(tl.clips),
                "frames": tl.total_frames,
            },
        )

    deliveries = [_delivery_asset(P, preset, k[n.CUT]) for preset in presets]

    shots_job = dg.define_asset_job(
        n.shots_job_name(P),
        selection=dg.AssetSelection.assets(k[n.PICTURE], k[n.AUDIO]),
        partitions_def=parts,
        description=f"Conform picture and normalize audio of one shot of {P}.",
    )
    assemble_job = dg.define_asset_job(
        n.assemble_job_name(P),
        selection=dg.AssetSelection.assets(k[n.TIMELINE], k[n.CUT], k[n.EDL], k[n.OTIO], *[d.key for d in deliveries]),
        description=f"Timeline, cut, EDL and deliveries of {P}.",
    )
    return ProjectAssets(
        P,
        parts,
        [render, picture_spec, audio_spec, edit_spec, picture, audio, timeline, cut, edl, otio_timeline, *deliveries],
        [shots_job, assemble_job],
        list(presets),
    )


def _delivery_asset(P: str, preset: str, cut_key: dg.AssetKey):
    from ..media.commands import PRESETS

    spec = PRESETS[preset]

    @dg.asset(
        key=n.key(P, n.delivery(preset)),
        deps=[cut_key],
        group_name=n.DELIVERY_GROUP,
        kinds={"ffmpeg"},
        code_version=v.CODE_VERSIONS[v.Asset.DELIVERY],
        automation_condition=ROLLUP_AUTOMATION,
        pool=n.FFMPEG_POOL,
        description=f"The {preset} delivery in 06_Exports: {spec.description}. Encoded once from the cut.",
    )
    def _delivery(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        project = workspace.project(P)
        cut_v = current_input(context.instance, project, cut_key)
        mine = v.delivery_inputs(preset, cut_v)
        with stamped(project.stamps(n.delivery(preset), None, mine.version)):
            path = assembly.deliver(ffmpeg.runner(context, f"{P} {preset}"), project, preset)
        info = probe(path)
        md = {**metadata.media_metadata(info), "path": dg.MetadataValue.path(str(path)), "preset": preset}
        return _result(mine, md)

    return _delivery
