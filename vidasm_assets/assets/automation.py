"""The automation condition of the project roll-ups (timeline, cut, EDL, OTIO, deliveries).

``AutomationCondition.eager()`` is ``(newly_missing | any_deps_updated).since_last_handled()`` and not
missing / in-progress dependencies. Its "handled" reset includes ``initial_evaluation()``, so whatever is
already missing the first time the condition is evaluated for an asset is never requested: documented in the
1.8.11 changelog ("eager() will now only launch runs for missing partitions which become missing *after* the
condition has been added to the asset", dagster-io/dagster#25181) and visible in
``AutomationCondition.since_last_handled`` (dagster 1.13.27).

For vidasm that first evaluation happens whenever a project appears: a new project folder, picked up by a
code-location reload, has roll-ups that are missing from their very first evaluation. If the render sensor
ticked first (observing the new renders and launching the shot runs), nothing ever requested the timeline, and
the cut, EDL and deliveries waited on it forever (issue 9, item 12).

So the roll-ups use eager with "handled" = requested or updated, without the initial-evaluation reset: a
roll-up missing at its first evaluation is requested once, as soon as its dependencies are there and none is
in progress (eager's own guards), exactly as if it had become missing later. Everything else is eager's
documented behaviour: ``AutomationCondition.replace(old, new)`` swaps the sub-condition labelled ``old``
(its API docstring), the way docs.dagster.io "Customizing eager" adapts eager with ``.without(...)``. A roll-up
whose build fails is not retried by this (``newly_missing`` is true once), so a failing cut does not loop.
"""

from __future__ import annotations

import dagster as dg

HANDLED = (dg.AutomationCondition.newly_requested() | dg.AutomationCondition.newly_updated()).with_label("handled")
"""eager's "handled" reset without ``initial_evaluation()``."""

UPSTREAM_IN_PROGRESS = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.any_deps_in_progress()).with_label(
    "any_deps_waiting_on_in_progress"
)
"""A dependency of this asset waits on one of its own dependencies in progress: the delivery's cut while shot
runs rebuild pictures. eager's own guard looks one level up only, so when several shots changed, automation
asked for the timeline (which reads the renders, never in progress) and, with it, the delivery from the old
cut, while the shot runs were still going: a delivery of the new timeline's length over the old cut's frames
failed its run. Two levels cover vidasm's roll-ups (the deepest path is shot -> cut -> delivery)."""

UPDATED_TO_NEW_DATA = (
    dg.AutomationCondition.newly_updated()
    & dg.AutomationCondition.data_version_changed()
    & ~dg.AutomationCondition.executed_with_root_target()
).with_label("newly_updated_without_root")
"""eager's "a dependency was updated" (its ``newly_updated_without_root``), counting only an update that brought
a new data version. A shot whose broken new version was deleted has its last good build restated by the sensor
(``restate.py``: the same data version, materialized again so the UI shows it green): that re-materialization
is no change, and the cut and deliveries built from it stay as they are (they were rebuilt once, when it was
new: README "nothing runs")."""

ROLLUP_AUTOMATION: dg.AutomationCondition = (
    dg.AutomationCondition.eager()
    .replace("handled", HANDLED)
    .replace("newly_updated_without_root", UPDATED_TO_NEW_DATA)
    & ~UPSTREAM_IN_PROGRESS
)
"""Roll-ups follow their shots once per batch, and a project's missing roll-ups are built when it appears."""
