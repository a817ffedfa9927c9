"""make for video: decide what is missing or stale by comparing expected data versions with what the
Dagster instance recorded, then run exactly that through the project's jobs.

Expected versions come from the same functions the assets use (``media.build``), so the CLI and the
assets can never disagree on what "fresh" means.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import dagster as dg

from .assets import names as n
from .assets.records import (
    DATA_VERSION_TAG,
    INTERRUPTED_TAG,
    failed_checks_of,
    latest_materialization,
    recorded_inputs,
    recorded_observation,
)
from .assets.restate import reconcile_shots
from .media import assembly, fingerprints
from .media import versions as v
from .media.cards import check_image
from .media.checks import CHECK_TEXTS
from .media.conform import segment_encoder
from .media.errors import MediaNotFoundError, RangeError, VidasmError
from .media.music import music_values
from .media.presets import needs_segments
from .media.probe import MediaInfo, probe
from .media.project import NAME_RE, RENDER_EXTENSIONS, CardRef, Project, Workspace, stray_renders
from .media.ranges import shot_span, shot_uses
from .media.shots import shot_frames
from .media.timeline import Timeline

if TYPE_CHECKING:
    from .workers import ShotWorkers

State = Literal["fresh", "stale", "missing", "failed", "blocked", "error"]


@dataclass
class Item:
    """One asset (partition) of a project and what the build should do with it."""

    asset: str
    partition: str | None
    state: State
    reason: str = ""
    launch: bool = True  # False: an error a run could only repeat (a shot without any render): no run is launched

    @property
    def label(self) -> str:
        return f"{self.asset}[{self.partition}]" if self.partition else self.asset

    @property
    def needs_build(self) -> bool:
        return self.state in ("stale", "missing", "failed", "error")


@dataclass
class ProjectPlan:
    project: str
    items: list[Item] = field(default_factory=list)
    error: VidasmError | None = None
    placeholders: bool = False  # project.json "placeholders": failed shots become slates, the cut still builds
    warnings: list[str] = field(default_factory=list)  # said once per build and status (ignored shot folders)
    timeline_first: bool = False  # burn-in segments to build read the timeline, which is stale: build it first
    rollup_errors: list[str] = field(default_factory=list)  # what stops the roll-ups besides shots (a card's image)
    changed_during_build: bool = False  # project.json or its presets changed before the roll-ups ran (make.py)

    def shot_builds(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for it in self.items:
            if it.partition and it.needs_build and it.launch:
                out.setdefault(it.partition, []).append(it.asset)
        return out

    def rollup_builds(self) -> list[str]:
        return [it.asset for it in self.items if it.partition is None and it.needs_build]

    def item(self, asset: str, partition: str | None = None) -> Item | None:
        return next((it for it in self.items if it.asset == asset and it.partition == partition), None)


def sync_partitions(instance: dg.DagsterInstance, project: Project) -> tuple[list[str], list[str]]:
    """Make the project's shot partitions match its sequence; returns (added, removed)."""
    pname = n.shots_partitions_name(project.name)
    wanted = project.shots()
    have = set(instance.get_dynamic_partitions(pname))
    added = [s for s in wanted if s not in have]
    removed = sorted(have - set(wanted))
    if added:
        instance.add_dynamic_partitions(pname, added)
    for shot in removed:
        instance.delete_dynamic_partition(pname, shot)
    return added, removed


def observe(instance: dg.DagsterInstance, key: dg.AssetKey, version: str, partition: str | None = None) -> bool:
    """Record a source's data version when it changed, so the UI's staleness matches ours."""
    if recorded_observation(instance, key, partition) == version:
        return False
    instance.report_runless_asset_event(
        dg.AssetObservation(asset_key=key, partition=partition, tags={DATA_VERSION_TAG: version})
    )
    return True


def _last_run_failed(instance: dg.DagsterInstance, job: str, partition: str | None) -> str | None:
    """How the asset's latest run ended when it did not succeed: ``failed``, or ``interrupted`` for a run whose
    process was killed (``make.reclaim_dead_runs`` tags it); None when it succeeded or there is none."""
    tags = {"dagster/partition": partition} if partition else {}
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job, tags=tags), limit=1)
    if not runs or runs[0].status != dg.DagsterRunStatus.FAILURE:
        return None
    return "interrupted" if INTERRUPTED_TAG in runs[0].tags else "failed"


def _item(
    instance: dg.DagsterInstance,
    project: Project,
    asset: str,
    partition: str | None,
    expected: v.Inputs,
    force: bool,
    moved: bool = False,
) -> Item:
    """Gather what the instance recorded and what is on disk, and let ``versions.decide`` judge."""
    key = n.key(project.name, asset)
    mat = latest_materialization(instance, key, partition)
    job = n.shots_job_name(project.name) if partition else n.assemble_job_name(project.name)
    state, reason = v.decide(
        expected,
        recorded=(mat.tags or {}).get(DATA_VERSION_TAG) if mat else None,
        recorded_inputs=recorded_inputs(mat),
        on_disk=project.built_version(asset, partition),
        failed_checks=failed_checks_of(mat),
        last_run_failed=_last_run_failed(instance, job, partition),
        force=force,
        moved=moved,
    )
    return Item(asset, partition, state, reason)


def _timeline_moved(project: Project, tl: Timeline) -> bool:
    """The timeline file names the renders at other paths than ``tl`` (the workspace was moved or is mounted
    elsewhere); a missing or unreadable file is the stamps' business."""
    try:
        written = Timeline.from_json(project.timeline_path().read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return [c.source_path for c in written.clips] != [c.source_path for c in tl.clips]


def plan_project(
    instance: dg.DagsterInstance, project: Project, *, record: bool = True, force: bool = False
) -> ProjectPlan:
    """Expected vs recorded versions (and the outputs on disk) for every asset of a project. ``record`` also
    syncs the shot partitions and records the sources' observations (``vidasm status`` does not)."""
    plan = ProjectPlan(project.name, placeholders=project.spec.placeholders)
    plan.warnings += ignored_folder_warnings(project)
    plan.warnings += stray_render_warnings(project)
    facets = v.spec_facets(project)
    if record:
        sync_partitions(instance, project)
        for facet, values in facets.items():
            observe(instance, n.key(project.name, facet.value), v.facet_version(facet, values))
        for preset in project.exports():
            observe(instance, n.key(project.name, n.preset_source(preset.name)), v.preset_version(preset))
    cache = fingerprints.load_fingerprints(project)
    music = music_values(project, cache)  # a missing or unreadable track: the project's error, naming the file
    music_v = v.music_version(music) if music is not None else None
    if record and music_v is not None:
        observe(instance, n.key(project.name, n.MUSIC), music_v)
    probes, shot_errors = _plan_shots(instance, project, plan, facets, cache, record=record, force=force)
    presets = project.exports()
    burn_ins = [p for p in presets if needs_segments(p) and p.spec.burn_ins]
    rollups = [n.TIMELINE, n.CUT, n.EDL, n.OTIO, *([n.MIX] if music_v else []), *[n.delivery(p.name) for p in presets]]
    plan.rollup_errors = card_errors(project)
    reasons = [f"blocked by shot(s) {', '.join(shot_errors)}"] if shot_errors and not project.spec.placeholders else []
    reasons += plan.rollup_errors or ([] if project.entries() else ["the sequence has no shot and no card"])
    if reasons:  # every reason at once: a missing card image is said beside a failed shot, never behind it
        why = "; ".join(reasons)
        plan.items += [Item(a, None, "blocked", why) for a in rollups]
        plan.items += [Item(n.segments(p.name), s, "blocked", why) for p in burn_ins for s in project.shots()
                       if s not in shot_errors]  # fmt: skip
        fingerprints.save_fingerprints(project, cache)
        return plan
    tl = assembly.build_timeline(project, probes)
    shots: dict[str, tuple[str, str]] = {}
    segments: dict[str, dict[str, str]] = {p.name: {} for p in presets if needs_segments(p)}  # none: no shot
    for clip in tl.clips:
        if clip.generated:
            continue
        wanted = assembly.expected_shot_inputs(project, clip, cache)
        shots[clip.shot] = (wanted[v.Asset.PICTURE].version, wanted[v.Asset.AUDIO].version)
        for preset in filter(needs_segments, presets):
            seg = assembly.expected_segment_inputs(project, tl, clip, cache, preset)
            segments[preset.name][clip.shot] = seg.version
            if preset.spec.burn_ins and clip is tl.uses(clip.shot)[0]:  # a shot's partition once
                plan.items.append(_item(instance, project, n.segments(preset.name), clip.shot, seg, force))
    fingerprints.save_fingerprints(project, cache)
    expected = v.rollup_inputs(project, tl, shots, segments, music_v)
    moved = _timeline_moved(project, tl)
    plan.items += [_item(instance, project, a, None, expected[a], force, moved and a == n.TIMELINE) for a in rollups]
    timeline = plan.item(n.TIMELINE)
    burn_in_assets = {n.segments(p.name) for p in burn_ins}
    plan.timeline_first = bool(timeline and timeline.needs_build) and any(
        it.asset in burn_in_assets and it.needs_build for it in plan.items
    )
    return plan


def card_errors(project: Project) -> list[str]:
    """One line per card whose background image cannot be used (missing, unreadable, too big, outside the project
    folder), naming the card and the file: found when planning, so it is said with any other problem of the build
    (a failed shot, a sequence of cards only) instead of behind it."""
    out = []
    for ref in project.entries():
        if isinstance(ref, CardRef):
            try:
                image = project.card_image(ref)
                if image is not None:
                    check_image(image, f"card {ref.id}")
            except VidasmError as exc:
                out.append(str(exc).splitlines()[0])
    return out


def _plan_shots(
    instance: dg.DagsterInstance,
    project: Project,
    plan: ProjectPlan,
    facets: dict,
    cache: fingerprints.FingerprintCache,
    *,
    record: bool,
    force: bool,
) -> tuple[dict[str, MediaInfo], list[str]]:
    """Plan each shot's picture, audio and segments without burn-ins; returns the renders' probes and the shots in
    error. (Segments with burn-ins need the timeline: ``plan_project`` plans them.)"""
    plain = [p for p in project.exports() if needs_segments(p) and not p.spec.burn_ins]
    probes: dict[str, MediaInfo] = {}
    shot_errors: list[str] = []
    for shot in project.shots():
        take = None
        try:
            take = project.select_take(shot)
            fp = fingerprints.render_fingerprint(take, cache)
            probes[shot] = probe(take.path)
            # every use's in/out inside the render: a range error is this shot's, said before any run
            shot_span(project, shot, take, probes[shot], shot_frames(probes[shot], project.spec.rate))
        except VidasmError as exc:
            shot_errors.append(shot)
            no_render = take is None and isinstance(exc, MediaNotFoundError)  # listed, but no render to build from
            no_render = no_render or isinstance(exc, RangeError)  # in/out outside the render: a run could only fail
            for name in [a.value for a in v.SHOT_ASSETS] + [n.segments(p.name) for p in plain]:
                plan.items.append(Item(name, shot, "error", str(exc).splitlines()[0], launch=not no_render))
            continue
        if record:
            observe(instance, n.key(project.name, n.RENDER), fp, shot)
        uses = shot_uses(project, shot)
        for asset, inputs in v.shot_inputs(fp, take.label, facets, uses).items():
            plan.items.append(_item(instance, project, asset.value, shot, inputs, force))
        for preset in plain:
            hardware = segment_encoder(project, preset)
            encoder = hardware.encoder if hardware else None
            inputs = v.segment_inputs(fp, take.label, facets, preset, encoder=encoder, uses=uses)
            plan.items.append(_item(instance, project, n.segments(preset.name), shot, inputs, force))
    return probes, shot_errors


@dataclass
class Outcome:
    project: str
    label: str
    success: bool
    run_id: str | None
    message: str = ""
    interrupted: bool = False  # the run was stopped by Ctrl-C / SIGTERM: the build stops too


Listener = Callable[[str, str], None]


def execute_plan(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: ProjectPlan,
    *,
    run_config: dict | None = None,
    on_step: Listener = lambda _project, _text: None,
    on_done: Callable[[Outcome], None] = lambda _outcome: None,
    tags: dict[str, str] | None = None,
    workers: ShotWorkers | None = None,
    unchanged: Callable[[], bool] = lambda: True,
) -> list[Outcome]:
    """One run per stale shot (its picture, audio and segments), then one run for the stale roll-ups; stops after
    a run that was interrupted (Ctrl-C, SIGTERM). ``unchanged`` is asked before the roll-ups: False (the project's
    settings changed since the plan) leaves them unbuilt and sets ``plan.changed_during_build``, for the caller
    to plan again: they would read the new project.json while the shots were built for the old one.

    With ``workers`` and more than one shot to build, the shot runs execute on its worker processes, as many at
    once as it has (the ``ffmpeg`` pool's slots still bound the FFmpeg steps of every process using the
    instance); ``on_done`` is called on this thread, in the order the runs finish. Otherwise, and for the roll-up
    run, runs execute here, one after another."""
    run_tags = {"vidasm/project": plan.project, **(tags or {})}
    P = plan.project
    outcomes: list[Outcome] = []
    say = on_step

    def done(out: Outcome) -> None:
        outcomes.append(out)
        on_done(out)

    failed_shots = list(_unlaunchable(plan))
    for shot, why in _unlaunchable(plan).items():
        done(Outcome(P, shot, False, None, why))
    rollups = plan.rollup_builds()
    blocked = [it for it in plan.items if it.state == "blocked"]
    if plan.timeline_first and not blocked and not _timeline_first(defs, instance, plan, rollups, run_config,
                                                                   run_tags, say, done):  # fmt: skip
        return outcomes
    shots_job = defs.resolve_job_def(n.shots_job_name(P))
    one_shot = functools.partial(run_shot, shots_job, instance, P, run_config, run_tags, say)

    def shot_done(shot: str, out: Outcome) -> None:
        done(out)
        if not out.success:
            failed_shots.append(shot)

    if _build_shots(P, plan.shot_builds(), one_shot, shot_done, workers, run_config, run_tags):
        if not any(o.interrupted for o in outcomes):
            done(Outcome(P, "shots", False, None, "stopped (Ctrl-C or SIGTERM) before a run started", True))
        return outcomes
    if (failed_shots or rollups) and not unchanged():  # a shot may have failed because of the edit itself
        plan.changed_during_build = True
        return outcomes
    stop = _not_assembled(plan, failed_shots, blocked, rollups)
    if stop is not None:
        if stop:
            done(Outcome(P, "cut, EDL, deliveries", False, None, stop))
        return outcomes
    if rollups:
        say(P, f"assemble: {', '.join(rollups)}")
        done(_run_rollups(defs, instance, P, rollups, run_config, run_tags))
    return outcomes


def _timeline_first(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: ProjectPlan,
    rollups: list[str],
    run_config: dict | None,
    tags: dict[str, str],
    say: Listener,
    done: Callable[[Outcome], None],
) -> bool:
    """The timeline before the shots (the burn-ins of their runs read it; taken off ``rollups``); whether it built."""
    say(plan.project, "timeline (the burn-ins show record timecode)")
    out = _run_rollups(defs, instance, plan.project, [n.TIMELINE], run_config, tags)
    done(out)
    if out.success:
        rollups.remove(n.TIMELINE)
    return out.success


def _not_assembled(plan: ProjectPlan, failed_shots: list[str], blocked: list[Item], rollups: list[str]) -> str | None:
    """Why the roll-ups are not run after the shots ("" when there are none to run anyway), or None: they run."""
    if not ((failed_shots and not plan.placeholders) or blocked):
        return None
    if not (rollups or blocked):
        return ""
    why = [f"failed {', '.join(failed_shots)}"] if failed_shots else []
    why += plan.rollup_errors or ([] if failed_shots else [blocked[0].reason])
    return f"not assembled: {'; '.join(why)}"


def settings_of(project: Project) -> dict[str, str]:
    """What a plan of ``project`` was made from, besides its renders: the versions of its project.json facets and
    of its delivery presets (``unchanged`` in ``execute_plan`` compares them with the files as they are now)."""
    out = {f.value: ver for f, ver in v.facet_versions(project).items()}
    out.update({f"preset {p.name}": v.preset_version(p) for p in project.exports()})
    return out


def _build_shots(
    project: str,
    builds: dict[str, list[str]],
    one_shot: Callable[[str, list[str]], Outcome],
    shot_done: Callable[[str, Outcome], None],
    workers: ShotWorkers | None,
    run_config: dict | None,
    tags: dict[str, str],
) -> bool:
    """The shot runs, on ``workers`` when there are several, else here; returns whether the build was stopped."""
    if workers is not None and len(builds) > 1:
        return workers.run(project, builds, run_config, tags, shot_done)
    for shot, assets in builds.items():
        out = one_shot(shot, assets)
        shot_done(shot, out)
        if out.interrupted:
            return True
    return False


def run_shot(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    project: str,
    run_config: dict | None,
    tags: dict[str, str],
    say: Listener,
    shot: str,
    assets: list[str],
) -> Outcome:
    """One run of the project's shots job for one shot partition and ``assets``, on this process's main thread
    (Dagster interrupts the step on SIGINT only there)."""
    say(project, f"shot {shot}: {', '.join(assets)}")
    result = job.execute_in_process(
        instance=instance,
        partition_key=shot,
        asset_selection=[n.key(project, a) for a in assets],
        raise_on_error=False,
        run_config=run_config,
        tags=tags,
    )
    label = f"{shot} ({', '.join(assets)})"
    return Outcome(project, label, result.success, result.run_id, _failure_text(result), _interrupted(result))


def _run_rollups(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    project: str,
    assets: list[str],
    run_config: dict | None,
    tags: dict[str, str],
) -> Outcome:
    """One run of the project's assemble job for ``assets``, on this thread."""
    result = defs.resolve_job_def(n.assemble_job_name(project)).execute_in_process(
        instance=instance,
        asset_selection=[n.key(project, a) for a in assets],
        raise_on_error=False,
        run_config=run_config,
        tags=tags,
    )
    text = _failure_text(result)
    label = ", ".join(unbuilt(result, project, assets) if not result.success else assets)
    return Outcome(project, label, result.success, result.run_id, text, _interrupted(result))


def unbuilt(result: dg.ExecuteInProcessResult, project: str, assets: list[str]) -> list[str]:
    """The assets of ``assets`` (names in ``project``) a run did not materialize, in their order (all of them when
    it materialized none of them): what a failed run's line names, since those it did build are fresh."""
    built = {ev.asset_key for ev in result.get_asset_materialization_events()}
    return [a for a in assets if n.key(project, a) not in built] or list(assets)


def _interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Dagster turns Ctrl-C/SIGTERM during a run into a failed step (DagsterExecutionInterruptedError) and returns
    normally; the build must stop there, not go on with the next shot."""
    if result.success:
        return False
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            err = event.step_failure_data.error
            while err is not None:
                if err.cls_name in ("DagsterExecutionInterruptedError", "KeyboardInterrupt", "BuildStoppedError"):
                    return True
                err = err.cause
    return False


def _unlaunchable(plan: ProjectPlan) -> dict[str, str]:
    """Shots with an error no run could fix (no render at all): failed here, by name, without a Dagster run."""
    out: dict[str, str] = {}
    for it in plan.items:
        if it.partition and it.state == "error" and not it.launch:
            out.setdefault(it.partition, it.reason)
    return out


def failed_check_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """One line per blocking check that failed in the run: the asset (and partition), the check, what it checks
    (``media/checks.py``) and what it measured (the evaluation's description)."""
    out = []
    for event in result.all_events:
        if event.event_type_value != dg.DagsterEventType.ASSET_CHECK_EVALUATION.value:
            continue
        ev = event.asset_check_evaluation_data
        if ev.passed or not ev.blocking or ev.severity != dg.AssetCheckSeverity.ERROR:
            continue
        asset = ev.asset_key.to_user_string() + (f"[{ev.partition}]" if ev.partition else "")
        what = CHECK_TEXTS.get(ev.asset_key.path[-1], {}).get(ev.check_name, "")
        out.append(f"{asset}: blocking check {ev.check_name} failed: {ev.description or 'no measurement'}"
                   + (f" (the check: {what})" if what else ""))  # fmt: skip
    return out


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    if result.success:
        return ""
    checks = failed_check_lines(result)
    if checks:  # Dagster's own message names neither the check nor what it measured
        return "; ".join(checks)
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            err = event.step_failure_data.error
            while err.cause is not None and err.cls_name in ("DagsterExecutionStepExecutionError",):
                err = err.cause
            return error_line(err.message, err.cls_name)
    return "run failed"


def _subclass_names(cls: type) -> set[str]:
    return {cls.__name__, *(name for sub in cls.__subclasses__() for name in _subclass_names(sub))}


def error_line(message: str | None, cls_name: str | None) -> str:
    """The first line of a step's error as the user reads it: a ``VidasmError``'s own message (it names the file
    and the cause) without the ``module.Class:`` Python puts before it; any other error keeps its class name
    (``KeyError: 'x'`` says nothing without it), without the module path."""
    line = message.strip().splitlines()[0] if message and message.strip() else ""
    name = cls_name or ""
    if name and line:
        prefix = re.match(rf"(?:[A-Za-z_][\w]*\.)*{re.escape(name)}: ", line)
        if prefix:
            line = line[prefix.end() :] if name in _subclass_names(VidasmError) else f"{name}: {line[prefix.end() :]}"
    return line or name or "failed"


def agree_in_ui(instance: dg.DagsterInstance, plan: ProjectPlan, shots: list[str]) -> None:
    """Shots this plan finds fresh but whose last run failed are restated in the event log, so the UI shows
    them as `vidasm status` does (assets/restate.py)."""
    states: dict[str, set[str]] = {}
    for it in plan.items:
        if it.partition:
            states.setdefault(it.partition, set()).add(it.state)
    fresh = [s for s, st in states.items() if st == {"fresh"}]
    for event in reconcile_shots(instance, plan.project, shots=shots, fresh=fresh, by="vidasm"):
        instance.report_runless_asset_event(event)


def plan_workspace(
    instance: dg.DagsterInstance, ws: Workspace, projects: list[str] | None = None, **kw
) -> list[ProjectPlan]:
    """One plan per project, each inside its own error boundary: whatever one project holds, the others are
    planned."""
    plans = []
    for name in projects or sorted([*ws.projects, *ws.errors]):
        if name in ws.errors:
            plans.append(ProjectPlan(name, [], ws.errors[name]))
        elif name in ws.projects:
            try:
                plan = plan_project(instance, ws.projects[name], **kw)
                plans.append(plan)
                if kw.get("record", True) and not kw.get("force"):
                    agree_in_ui(instance, plan, ws.projects[name].shots())
            except VidasmError as exc:
                plans.append(ProjectPlan(name, [], exc))
            except Exception as exc:  # the project's own error boundary
                err = VidasmError(f"project {name}: cannot be planned ({type(exc).__name__}: {exc})")
                plans.append(ProjectPlan(name, [], err))
        else:
            plans.append(ProjectPlan(name, [], VidasmError(f"no project {name!r} in {ws.root}", path=ws.root)))
    return plans


def stray_render_warnings(project: Project) -> list[str]:
    """One line per shot folder holding files that look like renders but are no take of the shot (a render named
    ``sh010 final.mov`` is never picked, and an older take stays in the cut): what they are and the names a take
    has. A folder that cannot be read says so when its shot is built."""
    out = []
    for shot in project.shots():
        try:
            strays = stray_renders(project.shot_dir(shot), shot)
        except VidasmError:
            continue
        if strays:
            names = ", ".join(strays[:5]) + (", ..." if len(strays) > 5 else "")
            out.append(f"{project.shot_dir(shot)}: not a take of {shot}, so not used: {names} (a take is named "
                       f"{shot}_v<NNN> or {shot}_take<NN>, then {'/'.join(RENDER_EXTENSIONS)})")  # fmt: skip
    return out


def ignored_folder_warnings(project: Project) -> list[str]:
    """One line naming the folders in 03_Renders that are not built (not in the explicit sequence, invalid ids)."""
    ignored = project.ignored_folders()
    if not ignored:
        return []
    by_reason: dict[str, list[str]] = {}
    for folder, why in ignored.items():
        by_reason.setdefault(why, []).append(folder if NAME_RE.fullmatch(folder) else repr(folder))
    parts = [f"{', '.join(folders)} ({why})" for why, folders in by_reason.items()]
    return [f"{project.renders_dir}: shot folder(s) not built: " + "; ".join(parts)]
