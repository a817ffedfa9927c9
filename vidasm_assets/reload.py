"""Reloading the code location through the webserver, so a brand-new project folder gets its assets.

What Dagster 1.13 offers (checked on dagster 1.13.27):

- Definitions are built once when a code server loads them; nothing watches the filesystem. A new project
  folder therefore needs a reload of the code location (dagster-io/dagster#3337, #20781, #12581).
- The daemon cannot reload code and a sensor has no API for it: it only sees the instance, not the webserver
  (dagster-io/dagster#10578, where the suggested way is ``DagsterGraphQLClient.reload_repository_location``).
- The webserver's GraphQL mutation ``reloadRepositoryLocation(repositoryLocationName)`` (also the UI's
  Deployment > Reload, and the public ``DagsterGraphQLClient.reload_repository_location``) restarts the code
  server that ``dagster dev`` runs for the location. The old server stops once its in-flight calls and runs
  have finished (``dagster/_grpc/proxy_server.py`` ``ReloadCode`` then ``shutdown_server``, which waits for
  executions), so a sensor tick may ask for it. The daemon notices the new server id within a second (its
  workspace watch thread) and uses the new definitions on its next ticks.
- Run as separate services (``dagster-daemon run -m ...``, no shared code server), the daemon starts its own
  code server and replaces it every 60 s (``dagster/_daemon/controller.py``: ``RELOAD_WORKSPACE_INTERVAL``,
  ``clear_all_grpc_endpoints``), so there the daemon picks a new project up within a minute by itself; under
  ``dagster dev`` the daemon and webserver share one code server and only a reload replaces it.
- ``DefinitionsLoadContext`` / defs state (``ReloadCodeWithState``) only refreshes state-backed *components*
  in place, and is itself triggered from outside (the webserver or an agent); it does not rediscover folders.

So the render sensor asks the webserver to reload when it finds a new project and knows the webserver's URL
(``VIDASM_WEBSERVER_URL``; ``vidasm ui`` sets it). ``vidasm reload`` does the same by hand.
"""

from __future__ import annotations

from .backfill import GraphQLError, graphql

LOCATIONS = """
query { workspaceOrError { __typename
  ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on RepositoryLocation { repositories { name sensors { name } } } } } }
  ... on PythonError { message } } }
"""

RELOAD = """
mutation Reload($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) { __typename
  ... on WorkspaceLocationEntry { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } }
  ... on ReloadNotSupported { message } ... on RepositoryLocationNotFound { message }
  ... on UnauthorizedError { message } ... on PythonError { message } } }
"""


def locations_with_sensor(url: str, sensor_name: str, *, timeout: float = 20) -> list[str]:
    """Names of the code locations whose repositories define ``sensor_name`` (vidasm's own location)."""
    ws = graphql(url, LOCATIONS, timeout=timeout)["workspaceOrError"]
    if ws["__typename"] != "Workspace":
        raise GraphQLError(f"workspace not readable: {ws}")
    found = []
    for entry in ws["locationEntries"]:
        loc = entry.get("locationOrLoadError") or {}
        repos = loc.get("repositories") or []
        if any(s["name"] == sensor_name for r in repos for s in r["sensors"]):
            found.append(entry["name"])
    return found


def reload_code_location(url: str, sensor_name: str = "render_sensor", *, timeout: float = 45) -> list[str]:
    """Reload every code location holding vidasm's render sensor; returns their names.

    Raises ``GraphQLError`` (or a ``requests`` error) when the webserver refuses or the reload fails to load.
    """
    names = locations_with_sensor(url, sensor_name, timeout=timeout)
    if not names:
        raise GraphQLError(f"no code location at {url} defines the sensor {sensor_name!r}")
    for name in names:
        out = graphql(url, RELOAD, {"name": name}, timeout=timeout)["reloadRepositoryLocation"]
        kind = out["__typename"]
        if kind != "WorkspaceLocationEntry":
            raise GraphQLError(f"reload of {name} refused: {kind} {out.get('message', '')}".strip())
        err = out.get("locationOrLoadError") or {}
        if err.get("__typename") == "PythonError":
            raise GraphQLError(f"reload of {name} failed to load: {err.get('message', '').strip()}")
    return names
