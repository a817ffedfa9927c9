"""Who may use it: Dagster's webserver on 127.0.0.1 only, and a team reaching it through nginx with a login.

A tiny project is built into a SQLite ``DAGSTER_HOME``; ``dagster-webserver`` serves it exactly as the README's
deployment starts it (``-h 127.0.0.1``), and nginx from the distribution runs in the foreground with the repository's
``deploy/nginx-vidasm.conf`` rendered into ``tmp_path`` (TLS with a self-signed certificate, basic auth, the
webserver as upstream). Through the proxy: 401 without credentials, with a wrong password and for an unknown
user, for the UI, GraphQL and the WebSocket alike; with a login (one bcrypt line from ``htpasswd -B``, one apr1
line from ``openssl passwd``, the README's two ways) the UI's HTML and scripts, real GraphQL queries on the
project and a GraphQL subscription handshake over the WebSocket. Every process started is stopped by its process
group, even on failure.
"""

from __future__ import annotations

import base64
import grp
import json
import os
import pwd
import re
import socket
import ssl
import string
import subprocess
import time
from pathlib import Path

import pytest
import requests

from ..support.dagster_dev import (
    BIN,
    _free_port,
    listening_addresses,
    process_group,
    wait_for_webserver,
)
from ..support.helpers import REPO
from ..support.served import Served, build_tiny, system_tool

pytestmark = [pytest.mark.media, pytest.mark.orchestration]
SITE = REPO / "deploy" / "nginx-vidasm.conf"
USERS = {"alice": "correct horse", "bob": "battery staple"}

# what the distribution's /etc/nginx/nginx.conf would be, everything in tmp_path, in the foreground
MAIN = """\
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {site};
}}
"""

PROJECT = """
query Project($picture: [String!]!, $edl: [String!]!) {
  repositoriesOrError { __typename ... on RepositoryConnection { nodes { name location { name } } } }
  picture: assetNodes(assetKeys: [{path: $picture}]) { partitionKeys
    assetChecksOrError { __typename ... on AssetChecks { checks { name } } } }
  edl: assetOrError(assetKey: {path: $edl}) { __typename
    ... on Asset { assetMaterializations(limit: 1) { runId } } }
}
"""


def render_site(values: dict[str, str]) -> str:
    """``deploy/nginx-vidasm.conf`` with its ``${VIDASM_*}`` placeholders filled, as the documented ``envsubst``
    with the list of those names does (nginx's own ``$variables`` are left alone)."""
    text = string.Template(SITE.read_text()).safe_substitute(values)
    assert "${VIDASM_" not in text, "a placeholder of deploy/nginx-vidasm.conf is not rendered by the test"
    return text


def htpasswd_lines(htpasswd: str, openssl: str) -> str:
    """alice with ``htpasswd -B`` (bcrypt), bob with ``openssl passwd -apr1``: the README's two ways."""
    alice = subprocess.run([htpasswd, "-n", "-b", "-B", "alice", USERS["alice"]], check=True, capture_output=True,
                           text=True).stdout.strip()  # fmt: skip
    bob = subprocess.run([openssl, "passwd", "-apr1", "-stdin"], input=USERS["bob"], check=True, capture_output=True,
                         text=True).stdout.strip()  # fmt: skip
    assert alice.startswith("alice:$2") and bob.startswith("$apr1$"), (alice, bob)
    return f"{alice}\nbob:{bob}\n"


def self_signed(openssl: str, where: Path) -> tuple[Path, Path]:
    cert, key = where / "vidasm.pem", where / "vidasm.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def websocket_handshake(port: int, cert: Path, auth: tuple[str, str] | None) -> tuple[int, dict | None]:
    """Open /graphql as the UI does (WebSocket, ``graphql-ws`` subprotocol) through the proxy; with 101 Switching
    Protocols, send ``connection_init`` and read the webserver's reply. Returns the status and that reply."""
    ctx = ssl.create_default_context(cafile=str(cert))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=20) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        headers = [
            "GET /graphql HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Protocol: graphql-ws",
        ]  # fmt: skip
        if auth:
            headers.append("Authorization: Basic " + base64.b64encode(":".join(auth).encode()).decode())
        s.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            return status, None
        payload = json.dumps({"type": "connection_init", "payload": {}}).encode()
        mask = os.urandom(4)
        frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        s.sendall(frame)
        data = head.split(b"\r\n\r\n", 1)[1]
        while len(data) < 2 or len(data) < 2 + (data[1] & 0x7F):
            data += s.recv(4096)
        length = data[1] & 0x7F
        assert data[0] == 0x81 and length < 126, data[:8]  # one unmasked text frame from the server
        return status, json.loads(data[2 : 2 + length])


def nginx_config(tmp: Path, site: str) -> Path:
    (tmp / "vidasm.site.conf").write_text(site)
    # as root, nginx's workers drop to another user, which could not read tmp_path (mode 0700): keep ours
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    conf = tmp / "nginx.conf"
    conf.write_text(MAIN.format(user=user, tmp=tmp, site=tmp / "vidasm.site.conf"))
    return conf


def wait_for_tls(port: int, cert: Path, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited early:\n{log.read_text()[-3000:]}")
        try:
            requests.get(f"https://127.0.0.1:{port}/", verify=str(cert), timeout=2)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_webserver_only_on_loopback_and_nginx_basic_auth_in_front(tmp_path: Path, ffmpeg: str) -> None:
    nginx = system_tool("nginx", candidates=("/usr/sbin/nginx",))
    htpasswd = system_tool("htpasswd", "apache2-utils")
    openssl = system_tool("openssl")
    served: Served = build_tiny(tmp_path, ffmpeg)
    web_port, proxy_port = _free_port(), _free_port()
    # the README's service command for the webserver behind the proxy
    web = [str(BIN / "dagster-webserver"), "-m", "vidasm_assets.definitions", "-h", "127.0.0.1", "-p", str(web_port)]
    web_log = tmp_path / "webserver.log"
    with process_group(web, web_log, env=served.env(ffmpeg), cwd=tmp_path) as web_proc:
        wait_for_webserver(f"http://127.0.0.1:{web_port}", web_proc, web_log, "dagster-webserver")
        assert listening_addresses(web_port) == {"127.0.0.1"}

        nx = tmp_path / "nginx"
        nx.mkdir()
        cert, key = self_signed(openssl, nx)
        (nx / "vidasm.htpasswd").write_text(htpasswd_lines(htpasswd, openssl))
        site = render_site({
            "VIDASM_PROXY_LISTEN": f"127.0.0.1:{proxy_port}", "VIDASM_SERVER_NAME": "127.0.0.1",
            "VIDASM_WEBSERVER": f"127.0.0.1:{web_port}", "VIDASM_HTPASSWD": str(nx / "vidasm.htpasswd"),
            "VIDASM_TLS_CERT": str(cert), "VIDASM_TLS_KEY": str(key),
        })  # fmt: skip
        conf = nginx_config(nx, site)
        argv = [nginx, "-p", str(nx), "-c", str(conf), "-e", str(nx / "error.log")]
        checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        nginx_log = nx / "nginx.out"
        with process_group(argv, nginx_log) as nginx_proc:
            wait_for_tls(proxy_port, cert, nginx_proc, nginx_log)
            assert listening_addresses(proxy_port) == {"127.0.0.1"}
            check_through_proxy(f"https://127.0.0.1:{proxy_port}", proxy_port, cert, served)
        access = (nx / "access.log").read_text()
        assert re.search(r" - alice \[", access) and re.search(r" - bob \[", access), access[-2000:]


def check_through_proxy(base: str, port: int, cert: Path, served: Served) -> None:
    verify = str(cert)
    query = {"query": PROJECT, "variables": {"picture": [served.project, "picture"], "edl": [served.project, "edl"]}}

    # no login, a wrong password, an unknown user: 401 for the UI, GraphQL and the WebSocket alike
    for auth in (None, ("alice", "wrong"), ("bob", USERS["alice"]), ("mallory", "x")):
        page = requests.get(f"{base}/", auth=auth, verify=verify, timeout=30)
        assert page.status_code == 401, (auth, page.status_code)
        assert page.headers.get("WWW-Authenticate") == 'Basic realm="vidasm"'
        assert "Dagster" not in page.text
        gql = requests.post(f"{base}/graphql", json=query, auth=auth, verify=verify, timeout=30)
        assert gql.status_code == 401, (auth, gql.status_code)
        assert websocket_handshake(port, cert, auth) == (401, None)

    for user, password in USERS.items():
        auth = (user, password)
        page = requests.get(f"{base}/", auth=auth, verify=verify, timeout=30)
        assert page.status_code == 200, (user, page.status_code, page.text[:500])
        assert page.headers["Content-Type"].startswith("text/html") and "Dagster" in page.text
        scripts = re.findall(r'<script[^>]+src="(/[^"]+\.js)"', page.text)
        assert scripts, page.text[:2000]
        js = requests.get(f"{base}{scripts[0]}", auth=auth, verify=verify, timeout=30)
        assert js.status_code == 200 and "javascript" in js.headers["Content-Type"], (scripts[0], js.status_code)

        gql = requests.post(f"{base}/graphql", json=query, auth=auth, verify=verify, timeout=60)
        assert gql.status_code == 200, gql.text[:2000]
        data = gql.json()["data"]
        locations = {n["location"]["name"] for n in data["repositoriesOrError"]["nodes"]}
        assert locations == {"vidasm_assets.definitions"}, data["repositoriesOrError"]
        (picture,) = data["picture"]
        assert sorted(picture["partitionKeys"]) == served.shots
        checks = {c["name"] for c in picture["assetChecksOrError"]["checks"]}
        assert {"conforms_to_spec", "bt709_tagged"} <= checks
        assert data["edl"]["__typename"] == "Asset" and data["edl"]["assetMaterializations"][0]["runId"]

        status, reply = websocket_handshake(port, cert, auth)
        assert (status, reply) == (101, {"type": "connection_ack"})
