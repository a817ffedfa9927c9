"""A UI that shows the work, seen in a real browser: Playwright for Python driving Debian's chromium
(``/usr/bin/chromium``, passed as ``executable_path``: Playwright's own browser download is never used) on a real
``dagster dev`` (127.0.0.1) serving a tiny built project.

The project's ``picture`` asset page lists its shot partitions, a partition shows its metadata (the conformed
file's ``path``, the ``poster`` frame rendered as a picture) and the Checks tab its check results
(``conforms_to_spec`` and the others, succeeded). Then "Materialize" on the ``edl`` asset page launches a run that
succeeds, read back through the webserver's GraphQL (run status, the asset's newest materialization) and on the
run's own page. chromium missing: a failure under CI (``CI`` set, ``.ci/run`` installs it), else a skip saying so.
The dagster dev process group and the browser are stopped at the end, even on failure.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from vidasm_assets.backfill import graphql
from vidasm_assets.media.checks import PICTURE_CHECKS

from ..support.dagster_dev import _free_port, dagster_dev, listening_addresses
from ..support.served import SPEC, build_tiny, system_tool

pytestmark = [pytest.mark.media, pytest.mark.orchestration]
# headless, as root, on a machine without outside network: no sandbox, GPU or background connections
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip
TIMEOUT_MS = 60_000

RUN = """
query Run($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status jobName
  assetSelection { path } } } }
"""
LATEST = """
query Latest($path: [String!]!) { assetOrError(assetKey: {path: $path}) { __typename
  ... on Asset { assetMaterializations(limit: 1) { runId } } } }
"""


def run_status(url: str, run_id: str, timeout: float = 240) -> dict:
    """The run's final record, once it has finished."""
    deadline = time.monotonic() + timeout
    while True:
        run = graphql(url, RUN, {"id": run_id})["runOrError"]
        if run.get("status") in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} did not finish in {timeout} s: {run}")
        time.sleep(1)


def dismiss_community_dialog(page: Page) -> None:
    """Dagster's "Join the Dagster community" dialog, shown once on localhost, over whatever the test looks at."""
    dialog = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
    page.add_locator_handler(dialog, lambda d: d.get_by_role("button", name="Skip").click())


def check_picture_page(page: Page, url: str, project: str, shots: list[str]) -> None:
    # the partitions tab lists every shot, all materialized
    page.goto(f"{url}/assets/{project}/picture?view=partitions")
    expect(page.get_by_text(f"Materialized ({len(shots)})")).to_be_visible()
    for shot in shots:
        expect(page.get_by_text(shot, exact=True).first).to_be_visible()

    # one shot's metadata: the conformed file and its poster frame, shown as a picture
    shot = shots[0]
    page.get_by_text(shot, exact=True).first.click()
    expect(page).to_have_url(re.compile(rf"partition={shot}\b"))
    path_row = page.get_by_role("row").filter(has=page.get_by_text("path", exact=True))
    expect(path_row.first).to_contain_text(f"{project}/05_Cache/picture/{shot}.mov")
    poster_row = page.get_by_role("row").filter(has=page.get_by_text("poster", exact=True))
    poster_row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog").filter(has=page.get_by_role("img", name=shot))
    poster = dialog.get_by_role("img", name=shot)
    expect(poster).to_be_visible()
    expect(poster).to_have_attribute("src", re.compile(r"^data:image/jpeg;base64,"))
    # decoded by the browser, at the poster's size (the timeline's, for a picture this small)
    poster.evaluate("img => img.decode()")
    width, height = (int(v) for v in SPEC["resolution"].split("x"))
    assert poster.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [width, height]
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # the checks tab: every picture check, succeeded; each one's page says what it checks and that it passed
    page.get_by_role("tab", name="Checks").click()
    expect(page).to_have_url(re.compile(r"view=checks"))
    expect(page.get_by_text(f"Checks ({len(PICTURE_CHECKS)})")).to_be_visible()
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(len(PICTURE_CHECKS))
    for name, description in PICTURE_CHECKS.items():
        page.get_by_text(name, exact=True).first.click()
        expect(page.get_by_text(description, exact=True)).to_be_visible()
        expect(page.get_by_text("Passed", exact=True)).to_be_visible()


def materialize_from_ui(page: Page, url: str, project: str) -> str:
    """Press "Materialize" on the project's (unpartitioned) EDL asset page; the run id from the UI's toast."""
    page.goto(f"{url}/assets/{project}/edl")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"Materialize$")).click()
    toast = page.get_by_role("region", name=re.compile(r"^Notifications")).get_by_role("listitem")
    expect(toast.filter(has_text="Launched run")).to_be_visible()
    view = toast.get_by_role("link", name="View", exact=True)
    expect(view).to_have_attribute("href", re.compile(r"/runs/[0-9a-f-]{36}$"))
    return (view.get_attribute("href") or "").rsplit("/", 1)[1]


def test_picture_page_and_materialize_in_chromium(tmp_path: Path, ffmpeg: str) -> None:
    chromium = system_tool("chromium", candidates=("/usr/bin/chromium",))
    served = build_tiny(tmp_path, ffmpeg)
    log, port = tmp_path / "dagster_dev.log", _free_port()
    with dagster_dev(served.env(ffmpeg), tmp_path, port, log) as url, sync_playwright() as pw:
        assert listening_addresses(port) == {"127.0.0.1"}
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            dismiss_community_dialog(page)
            try:
                check_picture_page(page, url, served.project, served.shots)
                run_id = materialize_from_ui(page, url, served.project)
                run = run_status(url, run_id)
                assert run["status"] == "SUCCESS", f"{run}\n{log.read_text()[-4000:]}"
                assert run["assetSelection"] == [{"path": [served.project, "edl"]}]
                latest = graphql(url, LATEST, {"path": [served.project, "edl"]})["assetOrError"]
                assert latest["assetMaterializations"][0]["runId"] == run_id
                # and the UI says so on the run's page
                page.goto(f"{url}/runs/{run_id}")
                expect(page.get_by_text("Success", exact=True).first).to_be_visible()
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                (tmp_path / "failure.aria.yaml").write_text(page.locator("body").aria_snapshot())
                raise
        finally:
            browser.close()
