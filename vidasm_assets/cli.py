"""The ``vidasm`` command: demo, build, status, doctor, ui, reload, backfill, init-home, metrics, worker."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from .settings import dagster_home, home_dir, workspace_root, write_instance_config

if TYPE_CHECKING:
    from .planner import Outcome, ProjectPlan

app = typer.Typer(add_completion=False, no_args_is_help=True, help="vidasm: make for video, on Dagster.")
console = Console(stderr=True, soft_wrap=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace root [env VIDASM_WORKSPACE, default ./workspace]"),
]


@app.command()
def demo(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Where to write the demo workspace (default: VIDASM_WORKSPACE, else ./workspace)"),
    ] = None,
) -> None:
    """Write a demo workspace of two small, deliberately heterogeneous projects (again: finish what is missing).
    Where ``vidasm build`` looks by default, so the two commands agree."""
    from .media.demo import make_demo_workspace
    from .media.errors import VidasmError
    from .media.runner import find_ffmpeg

    directory = workspace_root(directory)
    t0 = time.monotonic()
    try:
        made = make_demo_workspace(find_ffmpeg(), directory)
    except VidasmError as exc:  # FFmpeg's own words included; rerunning finishes what is missing
        console.print(f"[red]demo not complete[/]: {escape(str(exc))}")
        raise typer.Exit(1) from None
    if not made:
        console.print(f"the demo workspace under {directory} is complete: nothing to write")
        return
    console.print(f"[green]wrote {len(made)} renders[/] under {directory} in {time.monotonic() - t0:.1f} s")


def _instance():
    """The persistent instance in ``settings.dagster_home()`` (created with vidasm's dagster.yaml if new); its
    storage is checked first: an unreachable PostgreSQL is one line in a second, not 15 s of retries."""
    from .media.errors import StorageUnreachableError
    from .storage_check import check_instance_storage

    home = dagster_home()
    try:
        check_instance_storage(home)
    except StorageUnreachableError as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home))


def _ensure_pool(home: Path) -> None:
    """Create the instance's ``ffmpeg`` pool row before this node's steps claim it side by side with others'
    (``pools.ensure_pool``: on PostgreSQL the first claims race)."""
    import dagster as dg

    from .assets.names import FFMPEG_POOL
    from .pools import ensure_pool

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        ensure_pool(instance, FFMPEG_POOL)
    finally:
        instance.dispose()


STATE_STYLE = {
    "fresh": "green",
    "stale": "yellow",
    "missing": "cyan",
    "failed": "red",
    "blocked": "red",
    "error": "red",
}


class _ConsoleListener:
    """Prints a build as it goes: plans, one line per run (one line per failure, with where the full log is),
    notes (waits, reclaimed runs) and a progress bar per FFmpeg step with percent and time left."""

    def __init__(self, progress: Progress, failures: list[str]) -> None:
        self.progress = progress
        self.failures = failures
        self.tasks: dict[str, TaskID] = {}

    def note(self, project: str, text: str) -> None:
        self.progress.console.print(f"[yellow]… {escape(project + ': ' if project else '')}{escape(text)}[/]")

    def plan(self, plan: ProjectPlan) -> None:
        out = self.progress.console
        for warning in plan.warnings:
            out.print(f"[yellow]! {escape(plan.project)}[/]: {escape(warning)}")
        todo = sum(1 for it in plan.items if it.needs_build)
        out.rule(f"{plan.project}: {todo} to build" if todo else f"{plan.project}: up to date")
        for it in plan.items:
            if it.needs_build or it.state == "blocked":
                out.print(f"  [{STATE_STYLE[it.state]}]{it.state:8}[/] {escape(it.label)}  {escape(it.reason)}")

    def start(self, project: str, label: str) -> None:
        self.progress.console.print(f"[bold]▶ {escape(project)}[/] {escape(label)}")

    def done(self, out: Outcome) -> None:
        self._clear()
        if out.success:
            self.progress.console.print(f"[green]✓ {escape(out.project)}[/] {escape(out.label)}")
            return
        where = f" [dim](full log: run {out.run_id[:8]}, `vidasm ui` → Runs)[/]" if out.run_id else ""
        if out.label in ("project", "plan"):  # said once, here; the summary only names the project
            self.failures.append(f"{out.project}: not built (error above)")
        else:
            self.failures.append(f"{out.project}: {out.label}: {out.message}")
        self.progress.console.print(
            f"[red]✗ {escape(out.project)}[/] {escape(out.label)}: {escape(out.message)}{where}"
        )

    def ffmpeg(self, label: str, done_s: float, total_s: float | None) -> None:
        task = self.tasks.get(label)
        if task is None:
            task = self.tasks[label] = self.progress.add_task(label, total=total_s or None)
        self.progress.update(task, completed=done_s, total=total_s or None)

    def _clear(self) -> None:
        for task in self.tasks.values():
            self.progress.remove_task(task)
        self.tasks.clear()


@app.command()
def build(
    projects: Annotated[list[str] | None, typer.Argument(help="Projects to build (default: all)")] = None,
    workspace: WorkspaceOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Rebuild everything, stale or not")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Dagster's full run log")] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Fail instead of waiting when another build holds a project")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Shot runs at once (default: one per two ffmpeg pool slots)"),
    ] = None,
) -> None:
    """Materialize everything missing or stale, in the persistent Dagster instance."""
    from .make import make
    from .media.progress import listening
    from .media.project import discover_projects

    root = workspace_root(workspace)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    console.print(_ffmpeg_line())
    # SIGTERM (a farm scheduler, systemd) stops the build like Ctrl-C: the current run is cancelled, no more start
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with _instance() as instance:
        ws = discover_projects(root)
        if not ws.projects and not ws.errors:
            console.print(f"[red]no projects (folders with project.json) in {root}[/]")
            raise typer.Exit(2)
        level = "DEBUG" if verbose else "CRITICAL"  # failures: one line each from the listener, not a traceback
        run_config = {"loggers": {"console": {"config": {"log_level": level}}}}
        failures: list[str] = []
        columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
        try:
            with Progress(*columns, console=console, transient=True) as bars:
                listener = _ConsoleListener(bars, failures)
                with listening(listener.ffmpeg):
                    report = make(
                        root,
                        projects,
                        instance=instance,
                        force=all_,
                        listener=listener,  # type: ignore[arg-type]
                        run_config=run_config,
                        wait_for_lock=not no_wait,
                        jobs=jobs,
                    )
        except KeyboardInterrupt:
            console.print("\n[red bold]interrupted[/]: stopped; what finished is kept, nothing half-written counts")
            raise typer.Exit(130) from None
    if report.interrupted:
        console.print(f"\n[red bold]interrupted[/] after {report.seconds:.1f} s: the current run was cancelled")
        raise typer.Exit(130)
    if failures:
        console.print(f"\n[red bold]{len(failures)} failed[/] ({report.seconds:.1f} s):")
        for f in failures:
            console.print(f"  - {escape(f)}")
        raise typer.Exit(1)
    home = dagster_home()
    console.print(f"\n[green bold]done[/]: {report.runs} run(s) in {report.seconds:.1f} s; instance at {home}")


@app.command()
def status(
    projects: Annotated[list[str] | None, typer.Argument(help="Projects to show (default: all)")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Per project: what is built, stale, missing or failed, and why (changes nothing)."""
    from .media.project import discover_projects
    from .planner import plan_workspace

    root = workspace_root(workspace)
    console.print(_ffmpeg_line())
    ws = discover_projects(root)
    unknown = sorted(set(projects or []) - set(ws.projects) - set(ws.errors))
    if unknown:
        known = ", ".join(sorted({*ws.projects, *ws.errors})) or "none"
        console.print(f"[red]no project {', '.join(map(repr, unknown))} in {root}[/] (projects: {known})")
        raise typer.Exit(2)
    home = home_dir()
    if not (home / "dagster.yaml").is_file():  # status changes nothing: no instance is made for it
        import dagster as dg

        console.print(f"[yellow]no Dagster instance at {escape(str(home))}[/] (DAGSTER_HOME): nothing is recorded "
                      "as built there; set DAGSTER_HOME to the instance your builds use")  # fmt: skip
        instance_cm = dg.DagsterInstance.ephemeral()
    else:
        instance_cm = _instance()
    with instance_cm as instance:
        plans = [p for p in plan_workspace(instance, ws, record=False) if not projects or p.project in projects]
    any_bad = False
    out = Console(soft_wrap=True)
    for plan in plans:
        rows = []
        if plan.error:
            rows.append(("project.json", "error", str(plan.error).splitlines()[0]))
            any_bad = True
        rows += [("03_Renders", "warning", w) for w in plan.warnings]
        rows += [(it.label, it.state, it.reason) for it in plan.items]
        if not out.is_terminal:  # piped: one tab-separated line per asset, nothing cut
            for asset, state, why in rows:
                print(f"{plan.project}\t{asset}\t{state}\t{why}")
            continue
        table = Table(title=plan.project, title_justify="left")
        for col in ("asset", "state", "why"):
            table.add_column(col, overflow="fold")
        for asset, state, why in rows:
            table.add_row(escape(asset), f"[{STATE_STYLE.get(state, 'red')}]{state}[/]", escape(why))
        out.print(table)
    if any_bad:
        raise typer.Exit(1)


def _ffmpeg_line() -> str:
    """Which FFmpeg is used, its version and why (or why none can be)."""
    from .media.errors import VidasmError
    from .media.ffmpeg_tool import select_ffmpeg

    try:
        return select_ffmpeg().describe()
    except VidasmError as exc:
        return f"[red]no usable FFmpeg[/]: {escape(str(exc))}"


@app.command()
def doctor() -> None:
    """Which FFmpeg vidasm uses, its version and why; what it lacks; where the instance and workspace are."""
    from .media.errors import VidasmError
    from .media.ffmpeg_tool import MIN_VERSION, bundled_ffmpeg, capabilities, select_ffmpeg

    out = Console(soft_wrap=True)
    ok = True
    try:
        tool = select_ffmpeg()
        out.print(f"ffmpeg: {escape(tool.describe())}")
    except VidasmError as exc:
        out.print(f"[red]ffmpeg: none usable[/]: {escape(str(exc))}")
        ok = False
    found = [
        ("PATH", shutil.which("ffmpeg")),
        ("FFMPEG_PATH", os.environ.get("FFMPEG_PATH")),
        ("bundled", bundled_ffmpeg()),
    ]
    for origin, exe in found:
        if not exe:
            continue
        try:
            caps = capabilities(shutil.which(exe) or exe)
        except (OSError, VidasmError) as exc:
            out.print(f"  {origin}: {escape(exe)}: cannot run it ({escape(str(exc))})")
            continue
        verdict = "[green]can do the job[/]" if caps.usable else f"[yellow]cannot[/]: {escape(caps.problems())}"
        burn = caps.missing_burn_ins()
        burn_note = f"; no review burn-ins (lacks {escape(', '.join(burn))})" if caps.usable and burn else ""
        out.print(f"  {origin}: {escape(exe)} (FFmpeg {escape(caps.version)}): {verdict}{burn_note}")
    out.print(f"  supported: FFmpeg {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer; FFMPEG_PATH chooses one explicitly")
    out.print(f"workspace: {workspace_root()}")
    out.print(f"DAGSTER_HOME: {home_dir()}")
    if not ok:
        raise typer.Exit(1)


@app.command("init-home")
def init_home(
    postgres: Annotated[bool, typer.Option("--postgres", help="PostgreSQL storage from VIDASM_PG_URL")] = False,
    postgres_env: Annotated[bool, typer.Option("--postgres-env", help="PostgreSQL from DAGSTER_PG_*")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing dagster.yaml")] = False,
) -> None:
    """Write vidasm's dagster.yaml into DAGSTER_HOME (default ./.dagster_home): SQLite or PostgreSQL."""
    home = home_dir()
    kind = "postgres" if postgres else "postgres-env" if postgres_env else "sqlite"
    cfg = write_instance_config(home, kind, force=force)
    if cfg is None:
        console.print(f"[yellow]{home / 'dagster.yaml'} exists[/] (use --force to overwrite)")
        raise typer.Exit(1)
    console.print(f"wrote {cfg} ({kind}); export DAGSTER_HOME={home}")
    if postgres or postgres_env:
        from .media.errors import StorageUnreachableError
        from .storage_check import check_instance_storage

        try:
            check_instance_storage(home)
        except StorageUnreachableError as exc:  # written all the same: the settings may be set later, elsewhere
            console.print(f"[yellow]not usable yet[/]: {escape(str(exc))}")
            return
        _ensure_pool(home)


@contextlib.contextmanager
def _said_in_one_line(what: str, code: int) -> Iterator[None]:
    """A ``VidasmError`` in the block is the command's one line (``what: <first line>``) and exit ``code``."""
    from .media.errors import VidasmError

    try:
        yield
    except VidasmError as exc:
        console.print(f"[red]{escape(what)}:[/] {escape(str(exc).splitlines()[0])}")
        raise typer.Exit(code) from None


@app.command()
def backfill(
    projects: Annotated[list[str] | None, typer.Argument(help="Projects (default: all)")] = None,
    url: Annotated[str, typer.Option(help="Dagster webserver URL")] = "http://127.0.0.1:3000",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until it finishes")] = False,
) -> None:
    """Rebuild every shot and project as one Dagster backfill on a running deployment (GraphQL)."""
    from .backfill import launch_backfill, wait_for_backfill

    with _said_in_one_line("backfill", 2):
        backfill_id = launch_backfill(url, projects)
    console.print(f"launched backfill {backfill_id}: {url.rstrip('/')}/overview/backfills/{backfill_id}")
    if wait:
        with _said_in_one_line(f"backfill {backfill_id}", 1):
            status = wait_for_backfill(url, backfill_id)
        console.print(f"backfill {backfill_id}: {status}")
        if status not in ("COMPLETED", "COMPLETED_SUCCESS"):
            raise typer.Exit(1)


@app.command()
def reload(url: Annotated[str, typer.Option(help="Dagster webserver URL")] = "http://127.0.0.1:3000") -> None:
    """Reload vidasm's code location on a running deployment, so new project folders get their assets."""
    from .reload import reload_code_location

    with _said_in_one_line("reload", 2):
        names = reload_code_location(url)
    console.print(f"reloaded {', '.join(names)}: new projects build on the next sensor ticks")


@app.command()
def metrics(
    port: Annotated[int, typer.Option(help="Port to serve on")] = 9650,
    host: Annotated[str, typer.Option(help="Address to bind (default: this machine only)")] = "127.0.0.1",
) -> None:
    """Serve Prometheus metrics of the instance (DAGSTER_HOME), computed when scraped: processing ratio, FFmpeg
    seconds and failures per project and kind of asset, queued and in-progress runs."""
    from .media.errors import ListenError
    from .metrics import serve

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop like Ctrl-C: the instance is closed
    with _instance() as instance:
        try:
            server = serve(instance, host, port)
        except ListenError as exc:
            console.print(f"[red]{escape(str(exc))}[/]")
            raise typer.Exit(2) from None
        where = f"[{host}]" if ":" in host else host
        console.print(f"serving the metrics of {dagster_home()} at http://{where}:{port}/metrics (Ctrl-C stops)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.shutdown()
            server.server_close()


@app.command()
def worker(
    workspace: WorkspaceOpt = None,
    broker: Annotated[
        str | None, typer.Option(help="Celery broker URL [env VIDASM_CELERY_BROKER], e.g. redis://HOST:6379/0")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="Result backend [env VIDASM_CELERY_BACKEND; default: the Redis broker]")
    ] = None,
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", "-q", help="Queue(s) to take steps from, repeated or comma-separated [dagster]"),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", min=1, help="Steps this node runs at once [its cores]")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Worker name (NAME@host) [vidasm]")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery's log level")] = "INFO",
) -> None:
    """Run a render node's Celery worker in the foreground: it executes the steps of runs whose jobs use the
    Celery executor (VIDASM_EXECUTOR=celery). Needs the same vidasm, the workspace at the same path, the
    instance's DAGSTER_HOME (PostgreSQL) and FFmpeg; see README "Render nodes"."""
    from . import farm
    from .media.errors import SettingsError, StorageUnreachableError, VidasmError
    from .storage_check import check_instance_storage, uses_postgres

    home = home_dir()
    root = workspace_root(workspace)
    url = broker or os.environ.get(farm.BROKER_ENV)
    try:
        if not url:
            raise SettingsError(f"no Celery broker: pass --broker or export {farm.BROKER_ENV}")
        if not uses_postgres(home):
            raise SettingsError(
                f"{home / 'dagster.yaml'} is not a PostgreSQL instance: workers share the instance of the "
                "deployment (vidasm init-home --postgres, DAGSTER_HOME)"
            )
        check_instance_storage(home)
        _ensure_pool(home)
        if not root.is_dir():
            raise SettingsError(f"workspace {root} is not a folder here: mount it at the same path as elsewhere")
        queues = farm.split_queues(queue)
        result_backend = backend or os.environ.get(farm.BACKEND_ENV) or farm.default_backend(url)
        farm.check_broker(url)
        node = farm.worker_name(name)
        settings = farm.celery_settings(queues[0], farm.visibility_timeout())
        config_dir = farm.write_worker_config(home / "celery" / node.replace("@", "_"), url, result_backend, settings)
        argv = farm.worker_argv(queues, concurrency or os.cpu_count() or 1, node, loglevel)
    except (StorageUnreachableError, VidasmError) as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    env = {
        **os.environ,
        farm.EXECUTOR_ENV: "celery",
        farm.BROKER_ENV: url,
        "DAGSTER_HOME": str(home),
        "VIDASM_WORKSPACE": str(root),
        "PYTHONPATH": os.pathsep.join(p for p in (str(config_dir), os.environ.get("PYTHONPATH")) if p),
    }
    if backend:
        env[farm.BACKEND_ENV] = backend
    console.print(_ffmpeg_line())
    console.print(
        f"worker {node}: queues {','.join(queues)}, {argv[argv.index('-c') + 1]} at once, broker "
        f"{farm.safe_url(url)}, DAGSTER_HOME={home}, workspace {root}"
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # this process becomes the Celery worker: Ctrl-C and SIGTERM reach it, nothing is left orphaned
    os.execve(argv[0], argv, env)


@app.command()
def ui(
    workspace: WorkspaceOpt = None,
    port: Annotated[int, typer.Option(help="Webserver port")] = 3000,
) -> None:
    """Open the Dagster UI (dagster dev) on the same instance and workspace as ``vidasm build``."""
    env = {
        **os.environ,
        "VIDASM_WORKSPACE": str(workspace_root(workspace)),
        "DAGSTER_HOME": str(dagster_home()),
        # the render sensor reloads the code location through the webserver when a new project folder appears
        "VIDASM_WEBSERVER_URL": os.environ.get("VIDASM_WEBSERVER_URL") or f"http://127.0.0.1:{port}",
    }
    exe = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    argv = [exe, "dev", "-m", "vidasm_assets.definitions", "-h", "127.0.0.1", "-p", str(port)]
    console.print(f"DAGSTER_HOME={env['DAGSTER_HOME']} VIDASM_WORKSPACE={env['VIDASM_WORKSPACE']}")
    raise typer.Exit(subprocess.call(argv, env=env, preexec_fn=_default_sigint))


def _default_sigint() -> None:
    """In the child before it execs: SIGINT back to its default. A shell's background job (``vidasm ui &`` in a
    script, a service wrapper) starts with SIGINT ignored; Python then installs no KeyboardInterrupt handler, and
    Dagster maps SIGTERM to SIGINT's disposition, so ``dagster dev`` ignored SIGTERM as well and only SIGKILL
    stopped it (measured: SigIgn 0x1005006; SIGTERM to the group left 5 processes after 30 s)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


STORAGE_ERRNOS = {
    errno.ENOSPC: "disk full",
    errno.EFBIG: "file size limit",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EIO: "I/O error",
}


def storage_failure(exc: BaseException) -> str | None:
    """One line for an exception that comes from the machine's storage rather than from vidasm: an OSError of a
    full disk, a quota, a file size limit or a read-only or unreadable folder, or SQLite's own error (Dagster's
    SQLite instance says a full disk as ``disk I/O error`` inside SQLAlchemy's traceback); None otherwise."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in STORAGE_ERRNOS:
            where = f"{cur.filename}: " if cur.filename else ""
            return f"{where}{STORAGE_ERRNOS[cur.errno]} ({cur.strerror})"
        if isinstance(cur, sqlite3.Error):
            return (f"the Dagster instance's SQLite database in {dagster_home()} failed: {cur} (a full disk, a file "
                    "size limit or a read-only folder?)")  # fmt: skip
        orig = getattr(cur, "orig", None)  # SQLAlchemy keeps the driver's exception here
        cur = orig if isinstance(orig, BaseException) else (cur.__cause__ or cur.__context__)
    return None


def main() -> None:
    """The ``vidasm`` command. A failure of the machine's storage (a full disk under DAGSTER_HOME or the workspace)
    is one line naming where and why, exit 2, instead of a library's traceback (333 lines of SQLAlchemy for a
    full disk under DAGSTER_HOME); any other exception keeps its traceback (a bug to report)."""
    try:
        app()
    except Exception as exc:  # typer/click exit by SystemExit, which passes
        line = storage_failure(exc)
        if line is None:
            raise
        console.print(f"[red]storage:[/] {escape(line)}")
        sys.exit(2)


if __name__ == "__main__":
    main()
