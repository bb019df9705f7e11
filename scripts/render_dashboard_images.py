"""Render docs/images/dashboard-dev.png and dashboard-prod-layout.png (for the docs; CI never runs this).

Needs tmux and chromium (`apt-get install -y tmux chromium`). The dev view runs in a tmux pane against the mocked
cluster of tests/support/fake_cluster.py (a degraded one, so every colour shows), `tmux capture-pane -p -e` keeps
its colours, and the captured text becomes an HTML page that headless Chromium screenshots. The prod picture is
the dashboard body's widget grid drawn as boxes with their titles: a layout, not live data.

    .venv/bin/python scripts/render_dashboard_images.py
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.aws.dashboard import DashboardSpec, dashboard_body  # noqa: E402

IMAGES = ROOT / "docs" / "images"
COLOURS = {"31": "#ff6b6b", "32": "#7bd88f", "33": "#fce566", "36": "#5ad4e6"}
# Runs in the pane: the view against a mocked cluster with a volume short of a copy and a filer down.
VIEW = """
import json, sys
import httpx
from tests.support.fake_cluster import FakeCluster, MASTER, VOLUME
from components.healthcheck import dashboard
copies = {1: [VOLUME], 2: [VOLUME, VOLUME]}
cluster = FakeCluster(used_slots=5, percent_free=23.5, volumes=copies, placement={"rack": 1})
csv = "# pxname,svname,status\\nfilers,filer-0,UP\\nfilers,filer-1,UP\\nfilers,filer-2,DOWN\\nfilers,BACKEND,UP\\n"
def handle(request):
    if request.url.path.startswith("/stats"):
        return httpx.Response(200, text=csv)
    return cluster.handle(request)
samples = sys.argv[1]
json.dump([{"at": dashboard.time.time() - 6 * 86400, "used": 640, "free": 360}], open(samples, "w"))
sys.exit(dashboard.main([
    "--stack-outputs", sys.argv[2], "--haproxy-stats", "http://127.0.9.5:8404/stats;csv",
    "--haproxy-stats", "http://127.0.9.6:8404/stats;csv", "--sample-file", samples, "--title", "aegis-storage dev",
], transport=httpx.MockTransport(handle)))
"""


def capture_dev_view(work: Path) -> str:
    outputs = work / "outputs.json"
    target = {
        "filer_url": "http://127.0.9.3:8888",
        "master_urls": ["http://127.0.9.1:9333"],
        "expected_masters": 1,
        "expected_volume_servers": ["127.0.9.2:8080"],
        "volume_server_urls": ["http://127.0.9.2:8080"],
    }
    outputs.write_text(json.dumps({"health_target": target}))
    (work / "view.py").write_text(VIEW)
    run = f"{sys.executable} {work / 'view.py'} {work / 'samples.json'} {outputs}"
    command = f"cd {ROOT} && PYTHONPATH={ROOT} {run}; sleep 30"
    session = f"dashboard-{int(time.time())}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "110", "-y", "20", command], check=True)
    try:
        time.sleep(4)
        done = subprocess.run(["tmux", "capture-pane", "-p", "-e", "-t", session], check=True, capture_output=True)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    return done.stdout.decode().rstrip() + "\n"


def ansi_to_html(text: str) -> str:
    out, style = [], ""
    for part in re.split(r"(\x1b\[[0-9;]*m)", text):
        found = re.fullmatch(r"\x1b\[([0-9;]*)m", part)
        if not found:
            out.append(f'<span style="{style}">{html.escape(part)}</span>' if style else html.escape(part))
            continue
        codes = found.group(1).split(";")
        style = ""  # Paint resets after every span, so each sequence starts afresh
        for code in codes:
            if code in COLOURS:
                style += f"color:{COLOURS[code]};"
            elif code == "1":
                style += "font-weight:bold;"
            elif code == "2":
                style += "color:#8a8f98;"
    return "".join(out)


def dev_page(text: str) -> str:
    body = ansi_to_html(text)
    return (
        "<html><body style='margin:0;background:#1e1f22'><pre style=\"margin:0;padding:18px;color:#e6e6e6;"
        f"font:15px 'DejaVu Sans Mono',monospace;line-height:1.35\">{body}</pre></body></html>"
    )


def prod_page() -> str:
    spec = DashboardSpec("prod", "us-east-1", 300, 3, 12, 10, 2, "net/filer-lb-nlb/…", "targetgroup/filer-lb-filer/…")
    widgets = json.loads(dashboard_body(spec))["widgets"]
    unit_x, unit_y = 40, 28
    boxes = []
    for w in widgets:
        props = w["properties"]
        title = props.get("title") or props.get("markdown", "").splitlines()[0].lstrip("# ")
        kind = "text" if w["type"] == "text" else props.get("view", "")
        style = (
            f"left:{w['x'] * unit_x}px;top:{w['y'] * unit_y}px;width:{w['width'] * unit_x - 8}px;"
            f"height:{w['height'] * unit_y - 8}px"
        )
        boxes.append(f'<div class="w" style="{style}"><b>{html.escape(title)}</b><i>{kind}</i></div>')
    height = max(w["y"] + w["height"] for w in widgets) * unit_y
    return (
        "<html><head><style>body{margin:0;background:#f2f3f3;font:14px 'DejaVu Sans',sans-serif}"
        ".w{position:absolute;background:#fff;border:1px solid #c6c9cc;border-radius:4px;padding:8px;"
        "box-sizing:border-box}"
        ".w b{display:block}.w i{color:#687078;font-size:12px}"
        "h1{font-size:15px;margin:0;padding:10px 12px;color:#16191f}</style></head><body>"
        "<h1>aegis-storage-&lt;stack&gt;: layout of the CloudWatch dashboard "
        "(widget titles in their grid positions; not live data)</h1>"
        f"<div style='position:relative;margin:0 12px;height:{height}px'>{''.join(boxes)}</div></body></html>"
    )


def screenshot(page: str, target: Path, size: str, work: Path) -> None:
    source = work / f"{target.stem}.html"
    source.write_text(page)
    profile = tempfile.mkdtemp()
    flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
    flags += " --disable-component-update --disable-sync --hide-scrollbars"
    window = [f"--user-data-dir={profile}", f"--screenshot={target}", f"--window-size={size}"]
    subprocess.run(
        ["chromium", *flags.split(), *window, source.as_uri()],
        check=True,
        capture_output=True,
    )


def main() -> int:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        view = capture_dev_view(work)
        lines = view.count("\n")
        screenshot(dev_page(view), IMAGES / "dashboard-dev.png", f"1000,{lines * 21 + 40}", work)
        screenshot(prod_page(), IMAGES / "dashboard-prod-layout.png", "1000,940", work)
    print(view, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
