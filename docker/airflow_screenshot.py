"""A PNG of the Airflow UI's grid view of one DAG run, taken by headless Chromium.

    python docker/airflow_screenshot.py --run-id RUN_ID --out docs/img/airflow-grid.png

Logs in like the UI does: a JWT from Airflow's `/auth/token` (the stack's admin from .env), put in
the `_token` cookie the UI reads, through the DevTools protocol of Debian's `chromium`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import websockets


def token(base: str, username: str, password: str) -> str:
    answer = requests.post(
        f"{base}/auth/token", json={"username": username, "password": password}, timeout=30
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


async def _capture(ws_url: str, base: str, jwt: str, path: str, wait_s: float) -> bytes:
    async with websockets.connect(ws_url, max_size=64 * 2**20) as ws:
        ids = iter(range(1, 10**6))

        async def call(method: str, **params) -> dict:
            msg_id = next(ids)
            await ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == msg_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]

        await call("Network.enable")
        await call("Network.setCookie", name="_token", value=jwt, url=base, path="/")
        await call("Page.enable")
        await call("Page.navigate", url=base + path)
        await asyncio.sleep(wait_s)  # the UI is a single-page app: let it fetch and draw
        shot = await call("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])


def screenshot(base: str, jwt: str, path: str, out: Path, wait_s: float = 12.0) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium is not installed: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1600,1000",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text().strip():
                if time.monotonic() > deadline:
                    raise SystemExit("chromium did not open its DevTools port within 30 s")
                time.sleep(0.2)
            port = port_file.read_text().split()[0]
            pages = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            ws_url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
            png = asyncio.run(_capture(ws_url, base, jwt, path, wait_s))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--dag-id", default="brewlake_medallion")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="admin-change-me")
    parser.add_argument("--out", type=Path, default=Path("docs/img/airflow-grid.png"))
    parser.add_argument("--wait", type=float, default=12.0)
    args = parser.parse_args(argv)
    jwt = token(args.base, args.username, args.password)
    screenshot(args.base, jwt, f"/dags/{args.dag_id}/runs/{args.run_id}", args.out, args.wait)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
