"""Headless Chromium (Debian's ``chromium``, scripts/deps/chromium.sh) for the report tests.

Chromium is cut off from the network twice over: every host name resolves to nothing
(``--host-resolver-rules``), and background services are switched off. Its NetLog is
kept so a test can list the requests it *tried* to make and who initiated them.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing resolves: no lookup or connection leaves the machine
]

BROWSER_INITIATED = "not an origin"
"""NetLog's initiator of a request Chromium makes for itself (its update and time checks)."""


@dataclasses.dataclass
class Rendered:
    dom: str
    requests: list[dict]
    """Every URL request Chromium started: ``url`` and ``initiator``."""

    def page_requests(self) -> list[dict]:
        """Requests the page caused (anything a document initiated), as opposed to the browser's own."""
        return [r for r in self.requests if r["initiator"] != BROWSER_INITIATED]


def render(page: Path, workdir: Path, timeout: float = 120) -> Rendered:
    """Load ``page`` from disk, let it render, and return the DOM Chromium built plus its requests."""
    profile = workdir / "chromium-profile"
    netlog = workdir / "netlog.json"
    run = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--log-net-log={netlog}", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, f"chromium exited {run.returncode}: {run.stderr[-2000:]}"
    assert run.stdout.strip(), f"chromium printed no DOM: {run.stderr[-2000:]}"
    return Rendered(run.stdout, _requests(netlog))


def _requests(netlog: Path) -> list[dict]:
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        {"url": event["params"]["url"], "initiator": event["params"].get("initiator", "")}
        for event in log["events"]
        if event["type"] == start_job and "url" in event.get("params", {})
    ]


@dataclasses.dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = dataclasses.field(default_factory=list)
    text: str = ""

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        return [e for e in self.iter() if e.tag == tag and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].text += data


def parse(dom: str) -> Element:
    """The serialised DOM as a small element tree (Chromium's output is well nested)."""
    builder = _Builder()
    builder.feed(dom)
    builder.close()
    return builder.root
