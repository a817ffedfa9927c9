"""Backfills across projects through the webserver's GraphQL API (what the UI's Materialize dialog does)."""

from __future__ import annotations

import time
from typing import Any

import requests

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


class GraphQLError(RuntimeError):
    pass


def graphql(url: str, query: str, variables: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
    resp = requests.post(f"{url.rstrip('/')}/graphql", json={"query": query, "variables": variables or {}},
                         timeout=timeout)  # fmt: skip
    resp.raise_for_status()
    body = resp.json()
    if body.get("errors"):
        raise GraphQLError(str(body["errors"]))
    return body["data"]


def buildable_keys(url: str, projects: list[str] | None = None) -> list[list[str]]:
    """Every materializable asset (not the observed sources), optionally of some projects only."""
    nodes = graphql(url, ASSET_KEYS)["assetNodes"]
    keys = [n["assetKey"]["path"] for n in nodes if not n["isObservable"]]
    return [k for k in keys if not projects or k[0] in projects]


def launch_backfill(url: str, projects: list[str] | None = None) -> str:
    """Rebuild every shot partition and every roll-up of the given projects (default: all) as one backfill."""
    keys = buildable_keys(url, projects)
    if not keys:
        raise GraphQLError("no assets to backfill")
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
