"""The ``vidasm`` command: demo, build, status, ui."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="vidasm: make for video, on Dagster.")
console = Console(stderr=True, soft_wrap=True)

DEFAULT_HOME = ".dagster_home"

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace root [env VIDASM_WORKSPACE, default ./workspace]"),
]


def _workspace(ws: Path | None) -> Path:
    root = (ws or Path(os.environ.get("VIDASM_WORKSPACE") or "workspace")).resolve()
    os.environ["VIDASM_WORKSPACE"] = str(root)
    return root


def dagster_home() -> Path:
    """DAGSTER_HOME, or ./.dagster_home, created with vidasm's default dagster.yaml if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(_instance_yaml("dagster.yaml"))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _instance_yaml(name: str) -> str:
    """A packaged instance config, with the FFmpeg pool sized to this machine's cores."""
    text = resources.files("vidasm_assets").joinpath(f"instance/{name}").read_text()
    return text.replace("default_limit: 2", f"default_limit: {os.cpu_count() or 2}")


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to write the demo workspace")] = Path("workspace"),
) -> None:
    """Write a demo workspace of two small, deliberately heterogeneous projects (again: finish what is missing)."""
    from .media.demo import make_demo_workspace
    from .media.errors import VidasmError
    from .media.runner import find_ffmpeg

    t0 = time.monotonic()
    try:
        made = make_demo_workspace(find_ffmpeg(), directory.resolve())
    except VidasmError as exc:  # FFmpeg's own words included; rerunning finishes what is missing
        console.print(f"[red]demo not complete[/]: {escape(str(exc))}")
        raise typer.Exit(1) from None
    if not made:
        console.print(f"the demo workspace under {directory.resolve()} is complete: nothing to write")
        return
    console.print(f"[green]wrote {len(made)} renders[/] under {directory.resolve()} in {time.monotonic() - t0:.1f} s")


def _instance():
    from .media.errors import StorageUnreachableError
    from .storage_check import check_instance_storage

    try:
        check_instance_storage(dagster_home())  # one line in a second, not dagster-postgres' 15 s of retries
    except StorageUnreachableError as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    import dagster as dg

    return dg.DagsterInstance.get()


STATE_STYLE = {
    "fresh": "green",
    "stale": "yellow",
    "missing": "cyan",
    "failed": "red",
    "blocked": "red",
    "error": "red",
}


@app.command()
def build(
    projects: Annotated[list[str] | None, typer.Argument(help="Projects to build (default: all)")] = None,
    workspace: WorkspaceOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Rebuild everything, stale or not")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Dagster's full run log")] = False,
) -> None:
    """Materialize everything missing or stale, in the persistent Dagster instance."""
    from .definitions import build_definitions
    from .media.project import discover_projects
    from .planner import Outcome, execute_plan, plan_workspace

    root = _workspace(workspace)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    console.print(_ffmpeg_line())
    t0 = time.monotonic()
    with _instance() as instance:
        ws = discover_projects(root)
        if not ws.projects and not ws.errors:
            console.print(f"[red]no projects (folders with project.json) in {root}[/]")
            raise typer.Exit(2)
        defs = build_definitions(root)
        plans = plan_workspace(instance, ws, projects, force=all_)
        level = "DEBUG" if verbose else "INFO"
        run_config = {"loggers": {"console": {"config": {"log_level": level}}}}
        failures: list[str] = []
        built = 0
        for plan in plans:
            if plan.error:  # said once, here; the summary only names the project
                failures.append(f"{plan.project}: not built (error above)")
                console.print(f"[red]✗ {plan.project}[/]: {escape(str(plan.error))}")
                continue
            for warning in plan.warnings:
                console.print(f"[yellow]! {plan.project}[/]: {escape(warning)}")
            todo = sum(1 for it in plan.items if it.needs_build)
            console.rule(f"{plan.project}: {todo} to build" if todo else f"{plan.project}: up to date")
            for it in plan.items:
                if it.needs_build or it.state == "blocked":
                    console.print(f"  [{STATE_STYLE[it.state]}]{it.state:8}[/] {escape(it.label)}  {escape(it.reason)}")

            def report(out: Outcome) -> None:
                if out.success:
                    console.print(f"[green]✓ {out.project}[/] {escape(out.label)}")
                else:
                    failures.append(f"{out.project}: {out.label}: {out.message}")
                    console.print(f"[red]✗ {out.project}[/] {escape(out.label)}: {escape(out.message)}")

            outs = execute_plan(
                defs,
                instance,
                plan,
                run_config=run_config,
                on_step=lambda p, m: console.print(f"[bold]▶ {p}[/] {escape(m)}"),
                on_done=report,
            )
            built += sum(1 for o in outs if o.run_id)
    elapsed = time.monotonic() - t0
    if failures:
        console.print(f"\n[red bold]{len(failures)} failed[/] ({elapsed:.1f} s):")
        for f in failures:
            console.print(f"  - {escape(f)}")
        raise typer.Exit(1)
    console.print(f"\n[green bold]done[/]: {built} run(s) in {elapsed:.1f} s; instance at {os.environ['DAGSTER_HOME']}")


@app.command()
def status(workspace: WorkspaceOpt = None) -> None:
    """Per project: what is built, stale, missing or failed (changes nothing)."""
    from .media.project import discover_projects
    from .planner import plan_workspace

    root = _workspace(workspace)
    console.print(_ffmpeg_line())
    with _instance() as instance:
        plans = plan_workspace(instance, discover_projects(root), record=False)
    any_bad = False
    for plan in plans:
        table = Table(title=plan.project, title_justify="left")
        for col in ("asset", "state", "why"):
            table.add_column(col)
        if plan.error:
            table.add_row("project.json", "[red]error[/]", escape(str(plan.error)))
            any_bad = True
        for warning in plan.warnings:
            table.add_row("03_Renders", "[yellow]warning[/]", escape(warning))
        for it in plan.items:
            table.add_row(escape(it.label), f"[{STATE_STYLE[it.state]}]{it.state}[/]", escape(it.reason))
        Console(soft_wrap=True).print(table)
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
        out.print(f"  {origin}: {escape(exe)} (FFmpeg {escape(caps.version)}): {verdict}")
    out.print(f"  supported: FFmpeg {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer; FFMPEG_PATH chooses one explicitly")
    out.print(f"workspace: {Path(os.environ.get('VIDASM_WORKSPACE') or 'workspace').resolve()}")
    out.print(f"DAGSTER_HOME: {Path(os.environ.get('DAGSTER_HOME') or DEFAULT_HOME).resolve()}")
    if not ok:
        raise typer.Exit(1)


@app.command("init-home")
def init_home(
    postgres: Annotated[bool, typer.Option("--postgres", help="PostgreSQL storage from VIDASM_PG_URL")] = False,
    postgres_env: Annotated[bool, typer.Option("--postgres-env", help="PostgreSQL from DAGSTER_PG_*")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing dagster.yaml")] = False,
) -> None:
    """Write vidasm's dagster.yaml into DAGSTER_HOME (default ./.dagster_home): SQLite or PostgreSQL."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if cfg.exists() and not force:
        console.print(f"[yellow]{cfg} exists[/] (use --force to overwrite)")
        raise typer.Exit(1)
    name = "dagster.postgres.yaml" if postgres else "dagster.postgres-env.yaml" if postgres_env else "dagster.yaml"
    cfg.write_text(_instance_yaml(name))
    console.print(f"wrote {cfg} ({name}); export DAGSTER_HOME={home}")
    if postgres or postgres_env:
        from .media.errors import StorageUnreachableError
        from .storage_check import check_instance_storage

        try:
            check_instance_storage(home)
        except StorageUnreachableError as exc:  # written all the same: the settings may be set later, elsewhere
            console.print(f"[yellow]not usable yet[/]: {escape(str(exc))}")


@app.command()
def backfill(
    projects: Annotated[list[str] | None, typer.Argument(help="Projects (default: all)")] = None,
    url: Annotated[str, typer.Option(help="Dagster webserver URL")] = "http://127.0.0.1:3000",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until it finishes")] = False,
) -> None:
    """Rebuild every shot and project as one Dagster backfill on a running deployment (GraphQL)."""
    from .backfill import launch_backfill, wait_for_backfill

    backfill_id = launch_backfill(url, projects)
    console.print(f"launched backfill {backfill_id}: {url.rstrip('/')}/overview/backfills/{backfill_id}")
    if wait:
        status = wait_for_backfill(url, backfill_id)
        console.print(f"backfill {backfill_id}: {status}")
        if status not in ("COMPLETED", "COMPLETED_SUCCESS"):
            raise typer.Exit(1)


@app.command()
def ui(
    workspace: WorkspaceOpt = None,
    port: Annotated[int, typer.Option(help="Webserver port")] = 3000,
) -> None:
    """Open the Dagster UI (dagster dev) on the same instance and workspace as ``vidasm build``."""
    _workspace(workspace)
    dagster_home()
    exe = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    argv = [exe, "dev", "-m", "vidasm_assets.definitions", "-p", str(port)]
    console.print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']} VIDASM_WORKSPACE={os.environ['VIDASM_WORKSPACE']}")
    raise typer.Exit(subprocess.call(argv))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
