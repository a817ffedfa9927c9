"""Prometheus metrics of a Dagster instance, computed when scraped (``vidasm metrics``).

``InstanceCollector`` is a custom collector: no background thread, nothing kept but running totals and read
positions. Each scrape reads only what the event log recorded since the previous one, in pages:

- per built asset key, its materializations after the last storage id read (``fetch_materializations`` with
  ``after_storage_id``, ascending), adding each step's metrics (``wall_s``, ``media_s``, ``ffmpeg_s``,
  ``processing_ratio``: ``results.step_metrics``) to the totals of its project and kind;
- the run failures after the last cursor read (``fetch_run_status_changes``), with the failed steps of each;
- the queued and in-progress runs, counted anew (``get_run_records`` with a status filter and a limit).

At most ``budget`` records are read per scrape (materializations carry their metadata, posters included), so a
large history is caught up over the first scrapes (``vidasm_metrics_catching_up`` is 1 meanwhile) instead of being
loaded at once; each key's newest few are read first, so the last-ratio gauge is right from the first scrape.
Restated materializations (``assets/restate.py``: a runless repeat of a good build, with its metadata) are no work:
neither counted again nor taken as the newest build.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .assets import names as n
from .assets.records import FFMPEG_KEY, IN_PROGRESS, MEDIA_KEY, QUEUED, RATIO_KEY, WALL_KEY, metric, run_project
from .assets.restate import RESTATED_KEY
from .media.errors import ListenError

RATIO_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0)
"""Upper bounds of the processing-ratio histogram (seconds of work per second of media)."""
DEFAULT_PORT = 9650
SEED = 5
"""Newest materializations read per asset key on its first visit, for the last-ratio gauge (restated ones skipped)."""
TOTALS = {
    "materializations": "Materializations (restated ones not counted again)",
    "wall_seconds": "Seconds the steps took (wall_s), added up",
    "media_seconds": "Seconds of media the steps produced (media_s), added up",
    "ffmpeg_seconds": "Seconds FFmpeg ran in the steps (ffmpeg_s), added up",
}
LAST_HELP = "wall_s / media_s of the newest materialization of the kind (seconds of work per second of media)"
CATCHING_UP_HELP = "1 while the totals have not read the whole event log yet (a scrape reads a bounded number)"
KindKey = tuple[str, str]  # (project, kind)


@dataclass
class Totals:
    """What the materializations of one kind of asset of one project cost, added up."""

    materializations: int = 0
    wall_s: float = 0.0
    media_s: float = 0.0
    ffmpeg_s: float = 0.0
    ratio_sum: float = 0.0
    ratio_counts: list[int] = field(default_factory=lambda: [0] * (len(RATIO_BUCKETS) + 1))

    def add(self, mat: dg.AssetMaterialization) -> None:
        self.materializations += 1
        self.wall_s += metric(mat, WALL_KEY) or 0.0
        self.media_s += metric(mat, MEDIA_KEY) or 0.0
        self.ffmpeg_s += metric(mat, FFMPEG_KEY) or 0.0
        ratio = metric(mat, RATIO_KEY)
        if ratio is not None:
            self.ratio_sum += ratio
            bucket = next((i for i, le in enumerate(RATIO_BUCKETS) if ratio <= le), len(RATIO_BUCKETS))
            self.ratio_counts[bucket] += 1

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative counts per upper bound, ``+Inf`` last (the Prometheus histogram's)."""
        out, running = [], 0
        for le, count in zip([*map(str, RATIO_BUCKETS), "+Inf"], self.ratio_counts, strict=True):
            running += count
            out.append((le, float(running)))
        return out


@dataclass
class Last:
    storage_id: int
    ratio: float


def _restated(mat: dg.AssetMaterialization) -> bool:
    return RESTATED_KEY in (mat.metadata or {})


class InstanceCollector(Collector):
    """vidasm's metrics of ``instance``, read from its event log on each scrape (see the module's doc)."""

    def __init__(self, instance: dg.DagsterInstance, *, budget: int = 5_000, page: int = 500,
                 run_limit: int = 10_000) -> None:  # fmt: skip
        self.instance = instance
        self.budget, self.page, self.run_limit = budget, page, run_limit
        self._lock = threading.Lock()
        self._after: dict[dg.AssetKey, int] = {}  # per asset key: the last storage id read
        self._totals: dict[KindKey, Totals] = {}
        self._last: dict[KindKey, Last] = {}
        self._failure_cursor: str | None = None
        self._failed_runs: Counter[str] = Counter()
        self._failed_steps: Counter[KindKey] = Counter()
        self._projects: set[str] = set()
        self._steps: dict[str, KindKey] = {}  # op name (AssetKey.to_python_identifier) -> (project, kind)
        self.catching_up = False

    def describe(self) -> list[Metric]:
        return []  # registering never scrapes the instance

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # the HTTP server answers each request on its own thread
            left = self._read_materializations(self.budget)
            left = self._read_failures(left)
            self.catching_up = left <= 0
            runs = self._live_runs()
            yield from self._families(runs)

    # reading the event log
    def _built_keys(self) -> list[tuple[dg.AssetKey, KindKey]]:
        out = []
        for key in self.instance.get_asset_keys():
            kind = n.built_kind(key.path[-1]) if len(key.path) == 2 else None
            if kind is not None:
                project = key.path[0]
                self._projects.add(project)
                self._steps[key.to_python_identifier()] = (project, kind)
                out.append((key, (project, kind)))
        return out

    def _note_last(self, kk: KindKey, storage_id: int, mat: dg.AssetMaterialization) -> None:
        ratio = metric(mat, RATIO_KEY)
        last = self._last.get(kk)
        if ratio is not None and (last is None or storage_id > last.storage_id):
            self._last[kk] = Last(storage_id, ratio)

    def _read_materializations(self, left: int) -> int:
        keys = self._built_keys()
        for key, kk in keys:  # first visit: the newest builds, so the gauge is right before the totals catch up
            if key in self._after or left <= 0:
                continue
            newest = self.instance.fetch_materializations(key, limit=SEED).records
            left -= len(newest)
            self._after[key] = 0
            mat = next((r for r in newest if r.asset_materialization and not _restated(r.asset_materialization)), None)
            if mat is not None and mat.asset_materialization is not None:
                self._note_last(kk, mat.storage_id, mat.asset_materialization)
        for key, kk in keys:
            while key in self._after and left > 0:
                page = self.instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key, after_storage_id=self._after[key]),
                    limit=min(self.page, left),
                    ascending=True,
                )
                for rec in page.records:
                    mat = rec.asset_materialization
                    self._after[key] = rec.storage_id
                    left -= 1
                    if mat is None or _restated(mat):
                        continue
                    self._note_last(kk, rec.storage_id, mat)
                    self._totals.setdefault(kk, Totals()).add(mat)
                if not page.has_more:
                    break
        return left

    def _project_of(self, run: dg.DagsterRun) -> str:
        return run_project(run, self._projects)

    def _read_failures(self, left: int) -> int:
        while left > 0:
            page = self.instance.fetch_run_status_changes(
                dg.DagsterEventType.RUN_FAILURE, limit=min(self.page, left), cursor=self._failure_cursor,
                ascending=True,
            )  # fmt: skip
            ids = [rec.run_id for rec in page.records]
            runs = {r.dagster_run.run_id: r.dagster_run for r in
                    self.instance.get_run_records(filters=dg.RunsFilter(run_ids=ids))} if ids else {}  # fmt: skip
            for run_id in ids:
                run = runs.get(run_id)
                project = self._project_of(run) if run is not None else "unknown"
                self._failed_runs[project] += 1
                for entry in self.instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
                    step = entry.step_key or ""
                    kk = self._steps.get(step) or (project, n.built_kind(step.rsplit("__", 1)[-1]) or "other")
                    self._failed_steps[kk] += 1
            left -= len(ids)
            self._failure_cursor = page.cursor or self._failure_cursor
            if not page.has_more:
                break
        return left

    def _live_runs(self) -> Counter[tuple[str, str]]:
        counts: Counter[tuple[str, str]] = Counter()
        records = self.instance.get_run_records(
            filters=dg.RunsFilter(statuses=[*QUEUED, *IN_PROGRESS]), limit=self.run_limit
        )
        for record in records:
            run = record.dagster_run
            counts[(self._project_of(run), "queued" if run.status in QUEUED else "in_progress")] += 1
        return counts

    # the families
    def _families(self, runs: Counter[tuple[str, str]]) -> Iterator[Metric]:
        labels = ["project", "kind"]
        last = GaugeMetricFamily("vidasm_last_processing_ratio", LAST_HELP, labels=labels)
        for (project, kind), value in sorted(self._last.items()):
            last.add_metric([project, kind], value.ratio)
        hist = HistogramMetricFamily("vidasm_processing_ratio", "wall_s / media_s of each step", labels=labels)
        counters = {name: CounterMetricFamily(f"vidasm_{name}", text, labels=labels) for name, text in TOTALS.items()}
        for (project, kind), t in sorted(self._totals.items()):
            hist.add_metric([project, kind], t.buckets(), t.ratio_sum)
            values = {"materializations": t.materializations, "wall_seconds": t.wall_s, "media_seconds": t.media_s,
                      "ffmpeg_seconds": t.ffmpeg_s}  # fmt: skip
            for name, family in counters.items():
                family.add_metric([project, kind], values[name])
        failed_steps = CounterMetricFamily("vidasm_failed_steps", "Steps that failed, in failed runs", labels=labels)
        for (project, kind), count in sorted(self._failed_steps.items()):
            failed_steps.add_metric([project, kind], count)
        failed_runs = CounterMetricFamily("vidasm_failed_runs", "Runs that failed", labels=["project"])
        live = GaugeMetricFamily("vidasm_runs", "Runs queued or in progress now", labels=["project", "state"])
        for project in sorted(self._projects | set(self._failed_runs) | {p for p, _ in runs}):
            failed_runs.add_metric([project], self._failed_runs[project])
            for state in ("queued", "in_progress"):
                live.add_metric([project, state], runs[(project, state)])
        behind = GaugeMetricFamily("vidasm_metrics_catching_up", CATCHING_UP_HELP)
        behind.add_metric([], 1.0 if self.catching_up else 0.0)
        yield from (last, hist, *counters.values(), failed_steps, failed_runs, live, behind)


def registry_for(instance: dg.DagsterInstance, **options: int) -> CollectorRegistry:
    """A registry holding only vidasm's collector (no process metrics of the exporter itself)."""
    registry = CollectorRegistry()
    registry.register(InstanceCollector(instance, **options))
    return registry


def serve(instance: dg.DagsterInstance, host: str = "127.0.0.1", port: int = DEFAULT_PORT):
    """Serve the metrics of ``instance`` over HTTP on ``host:port`` (any path, Prometheus text or OpenMetrics by
    the request's Accept header), each request answered on its own thread; returns the server (``shutdown()``
    stops it). ``ListenError`` when the address cannot be bound."""
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry_for(instance))
    except OSError as exc:
        raise ListenError(f"vidasm metrics cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return server
