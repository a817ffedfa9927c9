"""Backfills across projects through the webserver's GraphQL API (what the UI's Materialize dialog does)."""

from __future__ import annotations

import time
from typing import Any

import requests

from .media.errors import VidasmError

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidSubsetError { message }
  }
}
"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numPartitions }
    ... on PythonError { message }
  }
}
"""

ASSET_KEYS = """
query { assetNodes { assetKey { path } isObservable isPartitioned } }
"""


class GraphQLError(VidasmError, RuntimeError):
    """The Dagster webserver cannot be reached or refused a GraphQL request: one line naming its URL and why."""


def graphql(url: str, query: str, variables: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
    """POST ``query`` to ``<url>/graphql``; its ``data``. Raises ``GraphQLError`` naming the URL: unreachable
    (no webserver there), a TLS certificate not trusted, credentials asked for (a proxy with basic auth), any
    other HTTP error, a non-JSON answer, or GraphQL errors."""
    endpoint = f"{url.rstrip('/')}/graphql"
    try:
        resp = requests.post(endpoint, json={"query": query, "variables": variables or {}}, timeout=timeout)
    except requests.exceptions.SSLError:
        raise GraphQLError(f"{endpoint}: its TLS certificate is not trusted; trust it with "
                           "REQUESTS_CA_BUNDLE=<its CA file>", path=endpoint) from None  # fmt: skip
    except requests.exceptions.Timeout:
        raise GraphQLError(f"{endpoint}: no answer in {timeout:g} s", path=endpoint) from None
    except requests.exceptions.RequestException as exc:
        raise GraphQLError(
            f"{endpoint}: cannot reach the Dagster webserver ({type(exc).__name__}); is it "
            "running there (`vidasm ui`, dagster-webserver)? --url says where",
            path=endpoint,
        ) from None
    if resp.status_code == 401:
        raise GraphQLError(f"{endpoint}: the server asks for credentials (HTTP 401): give them in the URL, "
                           "https://user:password@host/", path=endpoint)  # fmt: skip
    if resp.status_code >= 400:
        raise GraphQLError(f"{endpoint}: HTTP {resp.status_code} {resp.reason}", path=endpoint)
    try:
        body = resp.json()
    except ValueError:
        raise GraphQLError(f"{endpoint}: the answer is not JSON (a Dagster webserver?)", path=endpoint) from None
    if body.get("errors"):
        first = body["errors"][0].get("message", str(body["errors"][0])) if isinstance(body["errors"], list) else ""
        raise GraphQLError(f"{endpoint}: {first or body['errors']}".splitlines()[0], path=endpoint)
    return body["data"]


def buildable_keys(url: str, projects: list[str] | None = None) -> list[list[str]]:
    """Every materializable asset (not the observed sources), optionally of some projects only."""
    nodes = graphql(url, ASSET_KEYS)["assetNodes"]
    keys = [n["assetKey"]["path"] for n in nodes if not n["isObservable"]]
    return [k for k in keys if not projects or k[0] in projects]


def launch_backfill(url: str, projects: list[str] | None = None) -> str:
    """Rebuild every shot partition and every roll-up of the given projects (default: all) as one backfill."""
    keys = buildable_keys(url, projects)
    known = sorted({k[0] for k in buildable_keys(url)}) if projects else []
    unknown = sorted(set(projects or []) - set(known))
    if unknown:
        raise GraphQLError(f"{url}: no project {', '.join(unknown)} in its code location (known: "
                           f"{', '.join(known) or 'none'}; a new project folder: `vidasm reload` first)")  # fmt: skip
    if not keys:
        raise GraphQLError(f"{url}: no assets to backfill")
    params = {"assetSelection": [{"path": k} for k in keys], "allPartitions": True, "title": "vidasm rebuild"}
    out = graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if out["__typename"] != "LaunchBackfillSuccess":
        raise GraphQLError(f"backfill not launched: {out}")
    return out["backfillId"]


def backfill_status(url: str, backfill_id: str) -> str:
    out = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if out["__typename"] != "PartitionBackfill":
        raise GraphQLError(str(out))
    return out["status"]


def wait_for_backfill(url: str, backfill_id: str, timeout: float = 3600, poll: float = 2.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = backfill_status(url, backfill_id)
        if status in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"backfill {backfill_id} still {status} after {timeout:g} s")
        time.sleep(poll)
