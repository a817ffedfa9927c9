"""make for video: decide what is missing or stale by comparing expected data versions with what the
Dagster instance recorded, then run exactly that through the project's jobs.

Expected versions come from the same functions the assets use (``media.build``), so the CLI and the
assets can never disagree on what "fresh" means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import dagster as dg

from .assets import names as n
from .assets.versions import DATA_VERSION_TAG, failed_checks_of, latest_materialization, recorded_observation
from .media import build
from .media.errors import MediaNotFoundError, VidasmError
from .media.probe import probe
from .media.project import NAME_RE, Project, Workspace

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

    def shot_builds(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for it in self.items:
            if it.partition and it.needs_build and it.launch:
                out.setdefault(it.partition, []).append(it.asset)
        return out

    def rollup_builds(self) -> list[str]:
        return [it.asset for it in self.items if it.partition is None and it.needs_build]


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


def _last_run_failed(instance: dg.DagsterInstance, job: str, partition: str | None) -> bool:
    tags = {"dagster/partition": partition} if partition else {}
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job, tags=tags), limit=1)
    return bool(runs) and runs[0].status == dg.DagsterRunStatus.FAILURE


def _item(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None, expected: str, output_ok: bool
) -> Item:
    asset = key.path[-1]
    mat = latest_materialization(instance, key, partition)
    recorded = (mat.tags or {}).get(DATA_VERSION_TAG) if mat else None
    if recorded is None:
        return Item(asset, partition, "missing", "never built")
    if recorded != expected:
        return Item(asset, partition, "stale", "inputs or code changed")
    if not output_ok:
        return Item(asset, partition, "missing", "output file missing")
    failed = failed_checks_of(mat)
    if failed:
        return Item(asset, partition, "failed", f"failed check(s) {', '.join(failed)}")
    return Item(asset, partition, "fresh")


def plan_project(
    instance: dg.DagsterInstance, project: Project, *, record: bool = True, force: bool = False
) -> ProjectPlan:
    """Expected vs recorded versions for every asset of a project."""
    P = project.name
    plan = ProjectPlan(P, placeholders=project.spec.placeholders)
    if record:
        sync_partitions(instance, project)
    specs = {
        n.PICTURE_SPEC: build.picture_spec_version(project),
        n.AUDIO_SPEC: build.audio_spec_version(project),
        n.EDIT_SPEC: build.edit_spec_version(project),
    }
    if record:
        for name, version in specs.items():
            observe(instance, n.key(P, name), version)
    cache = build.load_fingerprints(project)
    shot_errors: list[str] = []
    probes = {}
    for shot in project.shots():
        try:
            take = None
            take = project.select_take(shot)
            fp = build.render_fingerprint(take, cache)
            probes[shot] = probe(take.path)
            build.shot_frames(probes[shot], project.spec.rate)
        except VidasmError as exc:
            shot_errors.append(shot)
            no_render = take is None and isinstance(exc, MediaNotFoundError)  # listed, but no render to build from
            for asset in (n.PICTURE, n.AUDIO):
                plan.items.append(Item(asset, shot, "error", str(exc).splitlines()[0], launch=not no_render))
            continue
        if record:
            observe(instance, n.key(P, n.RENDER), fp, shot)
        pv = build.picture_version(fp, specs[n.PICTURE_SPEC])
        av = build.audio_version(fp, specs[n.AUDIO_SPEC])
        for asset, expected, path in (
            (n.PICTURE, pv, project.picture_path(shot)),
            (n.AUDIO, av, project.audio_path(shot)),
        ):
            it = _item(instance, n.key(P, asset), shot, expected, path.is_file())
            if force:
                it = Item(asset, shot, "stale", "forced")
            elif it.needs_build and _last_run_failed(instance, n.shots_job_name(P), shot):
                it = Item(asset, shot, "failed", f"last build failed ({it.reason})")
            plan.items.append(it)
    build.save_fingerprints(project, cache)
    rollups = [n.TIMELINE, n.CUT, n.EDL, n.OTIO, *[n.delivery(p) for p in project.spec.exports]]
    if (shot_errors and not project.spec.placeholders) or not project.shots():
        why = f"blocked by shot(s) {', '.join(shot_errors)}" if shot_errors else "no shots"
        plan.items += [Item(a, None, "blocked", why) for a in rollups]
        return plan
    tl = build.build_timeline(project, probes)
    tv = build.timeline_version(tl)
    cv = build.expected_cut_version(project, tl, cache)
    expected = {
        n.TIMELINE: (tv, project.timeline_path()),
        n.CUT: (cv, project.cut_path()),
        n.EDL: (build.edl_version(tv, project.spec.editorial.edl_style), project.edl_path()),
        n.OTIO: (build.otio_version(tv), project.otio_path()),
        **{n.delivery(p): (build.delivery_version(p, cv), project.delivery_path(p)) for p in project.spec.exports},
    }
    for asset in rollups:
        version, path = expected[asset]
        it = _item(instance, n.key(P, asset), None, version, path.is_file())
        if force:
            it = Item(asset, None, "stale", "forced")
        elif it.needs_build and _last_run_failed(instance, n.assemble_job_name(P), None):
            it = Item(asset, None, "failed", f"last build failed ({it.reason})")
        plan.items.append(it)
    return plan


@dataclass
class Outcome:
    project: str
    label: str
    success: bool
    run_id: str | None
    message: str = ""


Listener = Callable[[str, str], None]


def execute_plan(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: ProjectPlan,
    *,
    run_config: dict | None = None,
    on_step: Listener | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """One run per stale shot (its picture and/or audio), then one run for the stale roll-ups."""
    P = plan.project
    outcomes: list[Outcome] = []
    say = on_step or (lambda _p, _m: None)

    def done(out: Outcome) -> None:
        outcomes.append(out)
        if on_done is not None:
            on_done(out)

    failed_shots = []
    for shot, why in _unlaunchable(plan).items():
        done(Outcome(P, shot, False, None, why))
        failed_shots.append(shot)
    shots_job = defs.resolve_job_def(n.shots_job_name(P))
    for shot, assets in plan.shot_builds().items():
        say(P, f"shot {shot}: {', '.join(assets)}")
        result = shots_job.execute_in_process(
            instance=instance,
            partition_key=shot,
            asset_selection=[n.key(P, a) for a in assets],
            raise_on_error=False,
            run_config=run_config,
            tags={"vidasm/project": P},
        )
        ok = result.success
        done(Outcome(P, f"{shot} ({', '.join(assets)})", ok, result.run_id, _failure_text(result)))
        if not ok:
            failed_shots.append(shot)
    blocked = [it for it in plan.items if it.state == "blocked"]
    rollups = plan.rollup_builds()
    if (failed_shots and not plan.placeholders) or blocked:
        bad = failed_shots or [blocked[0].reason]
        if rollups or blocked:
            done(Outcome(P, "cut, EDL, deliveries", False, None, f"not assembled: failed {', '.join(bad)}"))
        return outcomes
    if rollups:
        say(P, f"assemble: {', '.join(rollups)}")
        result = defs.resolve_job_def(n.assemble_job_name(P)).execute_in_process(
            instance=instance,
            asset_selection=[n.key(P, a) for a in rollups],
            raise_on_error=False,
            run_config=run_config,
            tags={"vidasm/project": P},
        )
        done(Outcome(P, ", ".join(rollups), result.success, result.run_id, _failure_text(result)))
    return outcomes


def _unlaunchable(plan: ProjectPlan) -> dict[str, str]:
    """Shots with an error no run could fix (no render at all): failed here, by name, without a Dagster run."""
    out: dict[str, str] = {}
    for it in plan.items:
        if it.partition and it.state == "error" and not it.launch:
            out.setdefault(it.partition, it.reason)
    return out


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    if result.success:
        return ""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            err = event.step_failure_data.error
            while err.cause is not None and err.cls_name in ("DagsterExecutionStepExecutionError",):
                err = err.cause
            return err.message.strip().splitlines()[0] if err.message else err.cls_name or "failed"
    return "run failed"


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
                plan.warnings += ignored_folder_warnings(ws.projects[name])
                plans.append(plan)
            except VidasmError as exc:
                plans.append(ProjectPlan(name, [], exc))
            except Exception as exc:  # the project's own error boundary
                err = VidasmError(f"project {name}: cannot be planned ({type(exc).__name__}: {exc})")
                plans.append(ProjectPlan(name, [], err))
        else:
            plans.append(ProjectPlan(name, [], VidasmError(f"no project {name!r} in {ws.root}", path=ws.root)))
    return plans


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
