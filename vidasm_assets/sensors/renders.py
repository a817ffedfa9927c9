"""The file sensor: one sensor watching every project's 03_Renders.

It adds shot partitions, records each settled render's data version as an observation, and launches the
shot runs whose expected versions differ from what was built. When one shot of a project changed and no run
of that project is under way (the common case: an artist publishes a version), its run goes on through the
roll-ups (timeline, cut, EDL, deliveries): one run per change. Otherwise the roll-ups follow by declarative
automation, once per batch of shot runs, not once per shot.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import dagster as dg
import requests

from ..assets import names as n
from ..assets.records import (
    DATA_VERSION_TAG,
    HANDED_TAG,
    busy_projects,
    handed_observations,
    handed_tag,
    latest_materialization,
    latest_versions,
    not_recorded,
    recorded_inputs,
    recorded_observation,
)
from ..assets.restate import AssetEvent, reconcile_shots
from ..backfill import GraphQLError
from ..media import versions as v
from ..media.errors import VidasmError
from ..media.fingerprints import load_fingerprints, save_fingerprints
from ..media.music import music_values
from ..media.presets import needs_segments
from ..media.project import Project, stable_hash
from ..media.ranges import shot_uses
from ..media.watch import ProjectChanges, ScanResult, WatchCursor, scan_workspace, wait_for_change
from ..reload import reload_code_location
from ..resources import WorkspaceResource

SENSOR_NAME = "render_sensor"
DAEMON_LOOP_SECONDS = 5
"""Dagster's sensor daemon evaluates sensors once per loop of at least 5 s, whatever a sensor's interval
(``MIN_INTERVAL_LOOP_TIME`` in ``dagster/_daemon/sensor.py``, 1.13.27; measured: BENCHMARKS.md "Reacting to
renders")."""
WATCH_MARGIN_SECONDS = 1
"""A watching tick ends this long before the daemon's next loop, so the next tick is not delayed by it."""
RELOAD_RETRY_SECONDS = 300
"""A reload asked for a new project that still is not in the code location is asked again after this long."""


def _music_version(project: Project) -> str:
    """The music's data version ("" without music): its tracks are fingerprinted (a stat when unchanged, through
    the fingerprint cache), so a new mix of a track is seen like a new render."""
    cache = load_fingerprints(project)
    values = music_values(project, cache)
    save_fingerprints(project, cache)
    return v.music_version(values) if values is not None else ""


def _presets_version(project: Project) -> str:
    """The settings of every preset the project exports, as one version: a ``presets.json`` (or project.json
    ``presets``) edit is a change of the project, so the tick records the presets' new versions at once
    (``_preset_observations``). Not watched, a workspace ``presets.json`` edit was recorded only by the next run
    of that project, after automation had rebuilt its segments: its late recording then made every segment and
    the delivery look updated again (6 runs for one new render)."""
    return stable_hash(sorted((p.name, v.preset_version(p)) for p in project.exports()))


PRESETS_FACET = "presets"
"""The pseudo-facet of the presets (no asset of that name: each preset is its own observed source)."""

FACETS = {facet.value: (lambda project, f=facet: v.facet_versions(project)[f]) for facet in v.SPEC_FACETS}
FACETS[n.MUSIC] = _music_version
FACETS[PRESETS_FACET] = _presets_version
"""project.json facet (and the music) -> its data version, for the pure scan (``media.watch``)."""


def rollup_keys(project: str, presets: list[str], music: bool = False) -> list[dg.AssetKey]:
    names = [n.TIMELINE, n.CUT, n.EDL, n.OTIO, *([n.MIX] if music else []), *[n.delivery(p) for p in presets]]
    return [n.key(project, a) for a in names]


def _reconcile(
    instance: dg.DagsterInstance, workspace: WorkspaceResource, ch: ProjectChanges, fresh: list[str]
) -> list[AssetEvent]:
    """Restate fresh shots whose last run failed, and checks last failed on a fresh or deleted shot (restate.py)."""
    project = workspace.project(ch.project)
    on_disk = [s for s in fresh if project.picture_path(s).is_file() and project.audio_path(s).is_file()]
    return reconcile_shots(instance, ch.project, shots=ch.shots, fresh=on_disk, by=SENSOR_NAME)


def _observations(instance: dg.DagsterInstance, ch: ProjectChanges, existing: set[str]) -> list[dg.AssetObservation]:
    """project.json facets and renders whose data version moved since the instance last recorded it."""
    P = ch.project
    events = []
    for facet, version in ch.specs.items():
        if not version or facet == PRESETS_FACET:  # no music (the only facet that can be absent); presets: below
            continue
        key = n.key(P, facet)
        if recorded_observation(instance, key) != version:
            events.append(dg.AssetObservation(asset_key=key, tags={DATA_VERSION_TAG: version}))
    # Only partitions that already existed can have history: one paged query per asset, not per shot.
    observed = latest_versions(
        instance, n.key(P, n.RENDER), [s for s in ch.changed if s in existing], observations=True
    )
    for shot, fp in ch.changed.items():
        if observed.get(shot) != fp:
            events.append(
                dg.AssetObservation(asset_key=n.key(P, n.RENDER), partition=shot, tags={DATA_VERSION_TAG: fp})
            )
    return events


OWED_SECONDS = 600
"""Observations handed to a run that never appeared (its creation failed) are recorded by the sensor after this."""


def hand_to_runs(runs: list[dg.RunRequest], events: list, owed: dict[str, list]) -> tuple[list, list]:
    """``runs`` and ``events`` with the observations of each project that gets a run through to delivery handed to
    that run (its shot's render, the project's changed project.json facets, presets and music): the run's first
    shot step records them (``assets/shots.record_observations``), once the run exists and holds its roll-ups in
    progress. Recorded by this tick they would land first, and an automation tick in between would see the
    roll-ups' sources updated and nothing in progress, and build the timeline (or more) again in a run of its
    own. Each hand-off is noted in ``owed`` (``"project/shot" -> [tag, time]``, ``owed_observations``)."""
    through = {r.tags.get("vidasm/project"): r for r in runs if r.tags.get("vidasm/through")}
    handed: dict[str, list] = {}
    kept = []
    for e in events:
        project = e.asset_key.path[0]
        run = through.get(project)
        ours = run is not None and (
            e.partition is None or (e.asset_key.path[-1] == n.RENDER and e.partition == run.partition_key)
        )
        if ours and isinstance(e, dg.AssetObservation):
            handed.setdefault(project, []).append(e)
        else:
            kept.append(e)
    tagged = []
    for r in runs:
        obs = handed.get(r.tags.get("vidasm/project")) if r.tags.get("vidasm/through") else None
        if obs:
            tag = handed_tag(obs)
            owed[f"{r.tags['vidasm/project']}/{r.partition_key}"] = [tag, time.time()]
            r = r.with_replaced_attrs(tags={**r.tags, HANDED_TAG: tag})
        tagged.append(r)
    return tagged, kept


def owed_observations(instance: dg.DagsterInstance, cursor: WatchCursor) -> list:
    """The observations handed to runs (``hand_to_runs``) that ended without recording them (canceled while
    queued, or failed before their first step), or that never appeared within ``OWED_SECONDS``, and that still
    hold: recorded now, so Dagster still sees the new render and settings. An entry waits while its run is
    queued or in progress; one the workspace has moved past since (a newer take, a finished write, project.json
    edited again) is dropped, never recorded over the newer observation."""
    late = []
    for entry, (tag, since) in list(cursor.owed.items()):
        found = instance.get_runs(filters=dg.RunsFilter(tags={HANDED_TAG: tag}), limit=1)
        if (found and not found[0].is_finished) or (not found and time.time() - since < OWED_SECONDS):
            continue
        del cursor.owed[entry]
        late += [o for o in not_recorded(instance, handed_observations(tag)) if _still_current(o, cursor)]
    return late


def _still_current(obs: dg.AssetObservation, cursor: WatchCursor) -> bool:
    """Whether ``obs`` is still what the sensor last saw: a render its shot's fingerprint, a project.json facet
    or the music its version (a preset: whatever it says; presets are observed again when they change)."""
    project, asset = obs.asset_key.path[0], obs.asset_key.path[-1]
    version = (obs.tags or {}).get(DATA_VERSION_TAG)
    if asset == n.RENDER:
        state = cursor.shots.get(project, {}).get(obs.partition or "")
        return state is not None and state.fp == version
    specs = cursor.specs.get(project, {})
    return asset not in specs or specs[asset] == version


def _preset_observations(instance: dg.DagsterInstance, project: Project) -> list[dg.AssetObservation]:
    """The exported presets whose settings moved since last observed: their segments and delivery go stale (and
    automation rebuilds those, only those)."""
    events = []
    for preset in project.exports():
        key = n.key(project.name, n.preset_source(preset.name))
        version = v.preset_version(preset)
        if recorded_observation(instance, key) != version:
            events.append(dg.AssetObservation(asset_key=key, tags={DATA_VERSION_TAG: version}))
    return events


def _was_trimmed(instance: dg.DagsterInstance, project: str, shot: str) -> bool:
    """The shot's picture was last built for trimmed uses (its recorded inputs have their in/out)."""
    inputs = recorded_inputs(latest_materialization(instance, n.key(project, n.PICTURE), shot)) or {}
    return "in/out" in (inputs.get("values") or {})


def _shot_runs(
    instance: dg.DagsterInstance,
    ch: ProjectChanges,
    facets: dict,
    existing: set[str],
    *,
    removed: bool,
    uses: Callable[[str], list | None] = lambda shot: None,
    tick: str = "",
) -> tuple[list[dg.RunRequest], list[str]]:
    """A run for each shot whose picture or audio is not at its expected version (a render already built by the
    CLI needs nothing), and the shots found fresh (for ``_reconcile``). ``tick`` ends each run key
    (``tick_token``)."""
    P = ch.project
    known = [s for s in ch.fingerprints if s in existing]
    candidates = set(ch.changed)
    if n.PICTURE_SPEC in ch.specs or n.AUDIO_SPEC in ch.specs:
        candidates |= set(ch.fingerprints)
    if n.EDIT_SPEC in ch.specs:  # sequence entries' in/out: the shots trimmed now or at their last build
        candidates |= {
            s for s in ch.fingerprints if s in existing and (uses(s) is not None or _was_trimmed(instance, P, s))
        }
    # A removed shot may have left a failed check as the asset's newest: which remaining shots are fresh, too.
    looked_at = candidates | set(known) if removed else candidates
    built = {
        a: latest_versions(instance, n.key(P, a), [s for s in known if s in looked_at]) for a in (n.PICTURE, n.AUDIO)
    }
    runs: list[dg.RunRequest] = []
    fresh: list[str] = []
    for shot in sorted(looked_at):
        fp = ch.fingerprints.get(shot) or ch.changed[shot]
        inputs = v.shot_inputs(fp, ch.takes.get(shot, ""), facets, uses(shot))
        expected = {a.value: i.version for a, i in inputs.items()}
        todo = sorted(a for a, ver in expected.items() if built[a].get(shot) != ver)
        if not todo and shot in existing:
            fresh.append(shot)
        elif todo and shot in candidates:
            runs.append(
                dg.RunRequest(
                    job_name=n.shots_job_name(P),
                    partition_key=shot,
                    asset_selection=[n.key(P, a) for a in todo],
                    run_key=f"{P}/{shot}/" + "/".join(expected[a] for a in todo) + tick,
                    tags={"vidasm/project": P, "vidasm/trigger": SENSOR_NAME},
                )
            )
    return runs, fresh


def with_segments(run: dg.RunRequest, project_name: str, project: Project, segments: list[str]) -> dg.RunRequest:
    """A shot's own run (several shots changed at once) with the shot's segments of each preset without burn-ins:
    a segment follows its shot's render, picture spec and preset by automation, but not the shot's in/out (the
    edit spec is the timeline's source), so two shots trimmed by one project.json edit left their segments stale
    for good and the delivery failed. Burn-in segments wait for automation: they draw the timeline, which is
    rebuilt after these runs. A segment already built at its inputs is reused, not encoded again."""
    burns = {n.segments(p.name) for p in project.exports() if p.spec.burn_ins}
    extra = [n.key(project_name, s) for s in segments if s not in burns]
    if not extra:
        return run
    return dg.RunRequest(job_name=run.job_name, partition_key=run.partition_key, run_key=run.run_key,
                         asset_selection=[*(run.asset_selection or []), *extra], tags=run.tags)  # fmt: skip


def through_to_delivery(
    run: dg.RunRequest, project: str, rollups: list[dg.AssetKey], segments: list[str]
) -> dg.RunRequest:
    """One shot's run extended to everything after it: the shot's segments of each preset, then the timeline,
    cut, EDL, OTIO and deliveries, in one run on ``<project>__shot_to_delivery``.

    Why: a change otherwise costs three runs (the shot; automation's segments; automation's roll-ups), each
    waiting for an automation tick and starting a run-worker process: 25 s median for 2 s of FFmpeg work
    (BENCHMARKS.md, "Reacting to renders"). After this run automation asks for nothing: eager's "handled" reset
    is the roll-ups' own update (``assets/automation.py``; tests/integration/test_automation.py).
    A segment already built at its inputs is reused, not encoded again (``assets/segments.py``)."""
    shot_assets = list(run.asset_selection or [])
    return dg.RunRequest(
        job_name=n.shot_to_delivery_job_name(project),
        partition_key=run.partition_key,
        asset_selection=[*shot_assets, *(n.key(project, s) for s in segments), *rollups],
        run_key=run.run_key,
        tags={**run.tags, "vidasm/through": "delivery"},
    )


def _project_requests(
    instance: dg.DagsterInstance,
    ch: ProjectChanges,
    presets: list[str],
    workspace: WorkspaceResource,
    facets: dict,
    music: bool = False,
    segments: list[str] | None = None,
    busy: bool = False,
    tick: str = "",
) -> tuple[list[dg.RunRequest], list, list]:
    P = ch.project
    pname = n.shots_partitions_name(P)
    existing = set(instance.get_dynamic_partitions(pname))
    partition_requests: list = []
    add = [s for s in ch.fingerprints if s not in existing]
    if add:
        partition_requests.append(dg.AddDynamicPartitionsRequest(pname, add))
    # Every partition whose shot is gone, also one the cursor never saw (built by the CLI, folder deleted since).
    remove = sorted(existing - set(ch.shots))
    if remove:
        partition_requests.append(dg.DeleteDynamicPartitionsRequest(pname, remove))
    events: list = _observations(instance, ch, existing) + _preset_observations(instance, workspace.project(P))
    project = workspace.project(P)
    runs, fresh = _shot_runs(instance, ch, facets, existing, removed=bool(remove),
                             uses=lambda shot: shot_uses(project, shot), tick=tick)  # fmt: skip
    if fresh or remove:
        events += _reconcile(instance, workspace, ch, fresh)
    if len(runs) == 1 and not remove and not busy:
        # the common case, one shot changed: the shot and its roll-ups in one run (many shots: one run each,
        # and the roll-ups once by automation when they are all done). That run's shot step records this tick's
        # observations of the project (``hand_to_runs``).
        runs = [through_to_delivery(runs[0], P, rollup_keys(P, presets, music), segments or [])]
    else:
        runs = [with_segments(r, P, project, segments or []) for r in runs]
    if remove and not runs:
        # Nothing upstream will materialize, so automation would not notice: reassemble without the shot.
        runs.append(
            dg.RunRequest(
                job_name=n.assemble_job_name(P),
                asset_selection=rollup_keys(P, presets, music),
                run_key=f"{P}/assemble/without/{'+'.join(remove)}/{ch.versions[n.EDIT_SPEC]}{tick}",
                tags={"vidasm/project": P, "vidasm/trigger": SENSOR_NAME},
            )
        )
    return runs, partition_requests, events


def outdated_assets(project: Project, presets: list[str], segments: list[str]) -> bool:
    """Whether this code location's assets of ``project`` are not the ones its files ask for now: the deliveries
    its ``exports`` name, or which presets encode per-shot segments (a preset edit that makes one differ from the
    conform's settings, or match them again). Until the location reloads, automation's runs of the old assets
    fail (``DagsterInvalidSubsetError``: the run worker loads the new definitions)."""
    exports = project.exports()
    now = sorted(n.segments(p.name) for p in exports if needs_segments(p))
    return [p.name for p in exports] != list(presets) or now != sorted(segments)


def announce_new_projects(
    context: dg.SensorEvaluationContext,
    workspace: WorkspaceResource,
    cursor: WatchCursor,
    new: list[str],
    what: str = "new project(s)",
) -> None:
    """A project folder this code location does not know (or, ``what`` says, one whose assets changed,
    ``outdated_assets``): ask the webserver to reload the code location (at most every ``RELOAD_RETRY_SECONDS``
    per project), or say in the tick log what to do. After the reload the next ticks build all of it: shots by
    this sensor, roll-ups by automation (``assets/automation.py``)."""
    now = time.time()
    due = [p for p in new if now - cursor.reloads.get(p, 0.0) >= RELOAD_RETRY_SECONDS]
    if not due:
        return
    names = ", ".join(repr(p) for p in due)
    manual = "reload the code location (UI: Deployment > Reload, or `vidasm reload`)"
    if not workspace.webserver_url:
        context.log.warning(
            f"{what} {names} in {workspace.path}: {manual} to add their assets; the shots, timeline, cut, "
            "EDL and deliveries then build by themselves. Set VIDASM_WEBSERVER_URL (vidasm ui does) to have "
            "this sensor reload it"
        )
        return
    for p in due:
        cursor.reloads[p] = now
    try:
        locations = reload_code_location(workspace.webserver_url, SENSOR_NAME)
    except (requests.RequestException, GraphQLError) as exc:  # the webserver is down or refused: try later
        context.log.warning(
            f"{what} {names}: asking {workspace.webserver_url} to reload the code location failed "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); {manual}"
        )
        return
    context.log.info(
        f"{what} {names}: reloaded code location(s) {', '.join(locations)} through "
        f"{workspace.webserver_url}; the next ticks build their shots, timeline, cut, EDL and deliveries"
    )


def tick_token(cursor: str | None) -> str:
    """The end of this tick's run keys: a digest of the cursor the tick started from. Dagster launches a run key
    once per sensor, so a key of the versions alone would never run again for a change back to earlier versions
    (a take un-published, a shot removed twice); a tick evaluated again from the same cursor (its result was
    lost) still asks for the same keys, and gets no second run."""
    return "@" + hashlib.sha1((cursor or "").encode()).hexdigest()[:12]


def default_watch_seconds(minimum_interval_seconds: int) -> float:
    """How long a tick that found nothing keeps watching (``media.watch.wait_for_change``): the rest of the
    daemon's loop when the sensor's interval is shorter than the loop (a render is then seen within a poll of
    landing, not at the next loop: up to 5 s later), else 0 (a tick every ``minimum_interval_seconds``)."""
    if minimum_interval_seconds >= DAEMON_LOOP_SECONDS:
        return 0.0
    return float(DAEMON_LOOP_SECONDS - WATCH_MARGIN_SECONDS)


def look_and_watch(
    workspace: WorkspaceResource, projects: set[str], cursor: WatchCursor, watch_seconds: float
) -> ScanResult:
    """One look at the workspace (``scan_workspace``); while it finds nothing to do, watch the folders
    (``wait_for_change``) and look again when something moved, for up to ``watch_seconds`` in all."""
    until = time.monotonic() + watch_seconds

    def look(cursor: WatchCursor) -> ScanResult:
        return scan_workspace(workspace.path, cursor, known_projects=projects, spec_versions=FACETS,
                              settle_seconds=workspace.settle_seconds)  # fmt: skip

    res = look(cursor)
    while not (res.deferred or any(not ch.empty for ch in res.changes)) and (left := until - time.monotonic()) > 0:
        if not wait_for_change(workspace.path, res.cursor, seconds=left, settle_seconds=workspace.settle_seconds):
            break
        res = look(res.cursor)
    return res


def reload_outdated(
    context: dg.SensorEvaluationContext,
    workspace: WorkspaceResource,
    res: ScanResult,
    before: WatchCursor,
    presets: dict[str, list[str]],
    segments: dict[str, list[str]],
) -> None:
    """Ask for a reload when a known project's assets are not the ones its files ask for (``outdated_assets``),
    as for a new project; the scan forgets a known project's last reload, so it is kept here (asked at most every
    ``RELOAD_RETRY_SECONDS``)."""
    outdated = []
    for ch in res.changes:  # the projects as the scan loaded them: no second read of project.json each tick
        project = res.projects.get(ch.project)
        if project is not None and outdated_assets(project, presets[ch.project], segments.get(ch.project, [])):
            outdated.append(ch.project)
    for p in outdated:
        if p in before.reloads:
            res.cursor.reloads[p] = before.reloads[p]
    if outdated:
        announce_new_projects(context, workspace, res.cursor, outdated, "project(s) whose presets changed")


def build_render_sensor(
    presets: dict[str, list[str]],
    jobs: list,
    *,
    minimum_interval_seconds: int = 30,
    music: set[str] | None = None,
    segments: dict[str, list[str]] | None = None,
    watch_seconds: float = 0.0,
) -> dg.SensorDefinition:
    """``presets`` maps each project in this code location to its delivery presets; ``music``: the projects whose
    definitions have the music assets (a music change is observed like a project.json facet, and automation
    rebuilds the mix, the OTIO and the deliveries); ``segments``: each project's per-shot segment assets;
    ``watch_seconds``: how long a tick that found nothing to do keeps watching the folders with stats
    (``default_watch_seconds``) before it ends, returning as soon as something lands and has settled."""

    @dg.sensor(
        name=SENSOR_NAME,
        jobs=jobs,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches every project's 03_Renders: new shots, new versions, changed takes and project.json "
        "edits become shot partitions, observations and shot runs.",
    )
    def render_sensor(context: dg.SensorEvaluationContext, workspace: WorkspaceResource) -> dg.SensorResult:
        before = WatchCursor.from_json(context.cursor)
        res = look_and_watch(workspace, set(presets), before, watch_seconds)
        if res.unknown_projects:
            announce_new_projects(context, workspace, res.cursor, res.unknown_projects)
        reload_outdated(context, workspace, res, before, presets, segments or {})
        for name, err in res.broken_projects.items():
            context.log.error(f"project {name}: {err}")
        runs: list[dg.RunRequest] = []
        partition_requests: list = []
        events: list[dg.AssetObservation] = []
        busy = busy_projects(context.instance, presets) if res.changes else set()  # one query per tick
        events += owed_observations(context.instance, res.cursor)
        for ch in res.changes:
            for msg in ch.errors:
                context.log.warning(f"{ch.project}/{msg}")
            if ch.waiting:
                held = " (its other changes wait with it)" if ch.held else ""
                context.log.info(f"{ch.project}: waiting for {', '.join(ch.waiting)} to settle{held}")
            if ch.empty:
                continue
            try:
                facets = v.spec_facets(workspace.project(ch.project))
            except VidasmError as exc:  # project.json broken since the scan: next tick
                context.log.error(f"project {ch.project}: {exc}")
                continue
            r, p, e = _project_requests(context.instance, ch, presets[ch.project], workspace, facets,
                                        ch.project in (music or set()), (segments or {}).get(ch.project),
                                        ch.project in busy, tick_token(context.cursor))  # fmt: skip
            runs += r
            partition_requests += p
            events += e
        runs, events = hand_to_runs(runs, events, res.cursor.owed)
        if res.deferred:
            context.log.info(f"{res.deferred} shot(s) left for the next tick (hashing budget)")
        context.log.info(f"{len(runs)} run request(s), {len(events)} observation(s)")
        return dg.SensorResult(
            run_requests=runs,
            dynamic_partitions_requests=partition_requests,
            asset_events=events,
            cursor=res.cursor.to_json(),
        )

    return render_sensor
