"""A live view of an experiment directory in the browser: what ``tunefleet dashboard DIR`` serves.

The page shows the report's live sections (:data:`LIVE_SECTIONS`, drawn by
:mod:`tunefleet.analysis.report`'s builders: status counts, best so far, learning curves, the top
trials, errors) of a sweep that is running or has ended. It reads only the directory, through the
analysis layer, never Ray: a sweep started elsewhere, or storage synced from a cluster, is shown
the same way.

How it stays current and cheap:

* the page asks ``/api/summary`` every :data:`REFRESH_S` seconds; the server takes a
  :func:`~tunefleet.rundir.directory_stamp` (one ``stat`` per file analysis reads) and reloads the
  results only when it changed, so an idle sweep costs a few hundred ``stat`` calls per poll;
* the figures are drawn again only when the page asks for a newer version than it has, at most
  every :data:`RENDER_INTERVAL_S` seconds while results keep arriving (drawing is the costly part
  and competes with the sweep for the CPUs); the counts and the best trial follow each poll;
* so the page is at most REFRESH_S + RENDER_INTERVAL_S + one redraw behind the directory
  (about 8 s; the numbers in the header about REFRESH_S).

Why the standard library's ``http.server.ThreadingHTTPServer``: the dashboard serves four fixed
GET routes to a browser on the same machine, which needs no router, templates or async server.
Flask, FastAPI or aiohttp would add a dependency (and their own servers) for that; Streamlit, Dash
or Panel bring tens of packages and their own JavaScript bundles, and Ray's dashboard needs a
running Ray. What the standard server lacks (TLS, authentication, production hardening) matters
only when it is exposed, which ``--host`` makes the user's explicit choice.

Safety: bound to 127.0.0.1 by default; GET (and HEAD) only; it serves its own routes and nothing
else (no file is served from disk, so no path can reach one); on a loopback address it answers
only requests addressed to a loopback host name (a web page elsewhere cannot read it through DNS
rebinding); the page loads nothing from elsewhere (a Content-Security-Policy says so to the
browser) and works offline.

Example:
    >>> path = Path("runs/quickstart")
    >>> live = LiveExperiment(path, lambda: load_results(path))  # doctest: +SKIP
    >>> server = start_dashboard(live, "127.0.0.1", 8265)  # doctest: +SKIP
    >>> server.serve_forever()  # doctest: +SKIP
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tunefleet.analysis import report
from tunefleet.errors import TunefleetError
from tunefleet.rundir import EXPERIMENT_FILE, directory_stamp

if TYPE_CHECKING:
    from tunefleet.analysis.interface import Results

__all__ = [
    "LIVE_SECTIONS",
    "REFRESH_S",
    "RENDER_INTERVAL_S",
    "DashboardServer",
    "LiveExperiment",
    "start_dashboard",
]

logger = logging.getLogger(__name__)

#: The report's sections the dashboard shows, by id; the others (importance, marginal effects, ...)
#: fit trees or draw every trial's config at each redraw: ``tunefleet report`` has them.
LIVE_SECTIONS = ("summary", "history", "learning-curves", "rungs", "pbt", "errors")
#: How often the page asks whether the directory changed (seconds).
REFRESH_S = 2.0
#: The least time between two redraws of the figures while results keep arriving (seconds).
RENDER_INTERVAL_S = 5.0
#: Stamps taken closer together than this are one: several pages open cost one ``stat`` sweep.
STAMP_TTL_S = 1.0


class LiveExperiment:
    """An experiment directory as last read, read again when its files change.

    Thread-safe: the server answers each request in a thread of its own. One lock keeps one
    reload at a time, another one redraw (matplotlib's pyplot is not thread-safe either); a
    redraw works on the results it started with, so the numbers go on following the directory
    while figures are drawn.

    Args:
        path: The experiment directory (what the stamp watches).
        load: Reads it through the analysis layer (e.g. a ``load_results`` call with the ranking
            options); a :class:`~tunefleet.errors.TunefleetError` it raises is shown on the page.
        top: How many of the best trials the summary lists.
        render_interval: See :data:`RENDER_INTERVAL_S`.
        stamp_ttl: See :data:`STAMP_TTL_S`.
    """

    def __init__(
        self,
        path: Path,
        load: Callable[[], Results],
        top: int = 10,
        render_interval: float = RENDER_INTERVAL_S,
        stamp_ttl: float = STAMP_TTL_S,
    ) -> None:
        self.path = path
        self.top = top
        self._load = load
        self._render_interval = render_interval
        self._stamp_ttl = stamp_ttl
        self._lock = threading.Lock()  # the stamp and the results
        self._draw_lock = threading.Lock()  # the sections
        self._checked_at = -float("inf")  # time.monotonic() of the last stamp
        self._changed_at: float | None = None  # the directory's newest file time (Unix seconds)
        self._tried_key: str | None = None  # stamp of the last load, whether it worked or not
        self._error: str | None = None  # why the last load failed (None: it worked)
        self._results: Results | None = None
        self._results_key: str | None = None  # stamp of the results held
        self._summary: dict[str, Any] | None = None
        self._sections: list[dict[str, str]] = []
        self._sections_key: str | None = None
        self._drawn_at = -float("inf")

    def check(self) -> None:
        """Read the directory now; raises what the loader raises (the command line's first look)."""
        with self._lock:
            self._reload(directory_stamp(self.path).key, raising=True)

    def summary(self) -> dict[str, Any]:
        """What ``/api/summary`` answers: ``version`` (the stamp of the results shown; null before
        the first load), ``summary`` (:meth:`ExperimentResults.summary
        <tunefleet.analysis.results.ExperimentResults.summary>`, null before the first load),
        ``error`` (why the directory could not be read the last time, or null), ``changed_ago_s``
        (seconds since a file analysis reads last changed, or null) and ``refresh_s``."""
        with self._lock:
            self._refresh()
            changed_ago = None if self._changed_at is None else max(0.0, time.time() - self._changed_at)
            return {
                "version": self._results_key,
                "summary": self._summary,
                "error": self._error,
                "changed_ago_s": changed_ago,
                "refresh_s": REFRESH_S,
            }

    def sections(self, have: str | None = None) -> dict[str, Any]:
        """What ``/api/sections`` answers: ``version`` and ``sections`` (``id``, ``title``,
        ``html``: each of :data:`LIVE_SECTIONS`); ``sections`` is null when the page already has
        ``version`` (``have``) or nothing has loaded yet. ``due_in_s``: seconds until newer results
        than ``version`` are drawn (ask again then), null when there are none."""
        with self._draw_lock:
            with self._lock:
                self._refresh()
                results, summary, key = self._results, self._summary, self._results_key
            due_in = self._drawn_at + self._render_interval - time.monotonic()
            stale = results is not None and key != self._sections_key
            if stale and (due_in <= 0 or self._sections_key is None):
                assert results is not None and summary is not None and key is not None
                self._draw(results, summary, key)
                stale = False
            unchanged = self._sections_key is None or self._sections_key == have
            return {
                "version": self._sections_key,
                "sections": None if unchanged else self._sections,
                "due_in_s": max(0.0, due_in) if stale else None,
            }

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self._stamp_ttl:
            return
        self._checked_at = now
        stamp = directory_stamp(self.path)
        self._changed_at = stamp.changed_at
        if stamp.key != self._tried_key:
            self._reload(stamp.key, raising=False)

    def _reload(self, key: str, raising: bool) -> None:
        # The stamp is taken before the files are read: a change while reading gives a new stamp,
        # and the next poll reads again.
        self._tried_key = key
        try:
            results = self._load()
            summary = results.summary(top=self.top)
        except TunefleetError as exc:
            if raising:
                raise
            self._error = str(exc)
            return
        except Exception as exc:
            # A file caught half-written in a way the readers do not expect: shown, logged, and
            # read again when the directory changes; the last good view stays on the page.
            if raising:
                raise
            logger.exception("reading %s failed", self.path)
            self._error = f"reading the directory failed ({type(exc).__name__}: {exc}); see the terminal"
            return
        self._results, self._summary, self._results_key, self._error = results, summary, key, None

    def _draw(self, results: Results, summary: dict[str, Any], key: str) -> None:
        self._drawn_at = time.monotonic()  # the interval runs from the start: a slow draw is no pause
        by_id = {section.id: section for section in report.SECTIONS}
        drawn = []
        for section_id in LIVE_SECTIONS:
            section = by_id[section_id]
            try:
                body = section.build(results, summary)
            except Exception as exc:
                logger.exception("drawing the %s section of %s failed", section_id, self.path)
                body = f'<p class="note">Not drawn: {html.escape(f"{type(exc).__name__}: {exc}")}</p>'
            drawn.append({"id": section.id, "title": section.title, "html": body})
        self._sections, self._sections_key = drawn, key


# -- the server -------------------------------------------------------------------------------


class DashboardServer(ThreadingHTTPServer):
    """The HTTP server of one :class:`LiveExperiment` (see :func:`start_dashboard`)."""

    # server_close() waits for the requests in progress (a redraw takes seconds): a thread still
    # in matplotlib's C++ when the interpreter exits aborts it.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], live: LiveExperiment) -> None:
        self.live = live
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"


def start_dashboard(live: LiveExperiment, host: str = "127.0.0.1", port: int = 8265) -> DashboardServer:
    """A server for ``live`` bound to ``host:port`` (port 0: any free port); call its
    ``serve_forever()``, and ``server_close()`` when done.

    Raises:
        TunefleetError: the address cannot be bound (the port is in use, the host is not this
            machine's).
    """
    family_v6 = ":" in host
    server_class = _V6Server if family_v6 else DashboardServer
    try:
        return server_class((host, port), live)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        hint = "; pick another with --port (0: any free port)" if port else ""
        raise TunefleetError(f"cannot serve the dashboard on {host}:{port}: {reason}{hint}") from None


class _V6Server(DashboardServer):
    address_family = socket.AF_INET6


_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    timeout = 30  # a client that sends nothing does not hold a thread (nor Ctrl-C) for longer
    server_version = "tunefleet-dashboard"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        if not self._host_allowed():
            self._send(HTTPStatus.FORBIDDEN, "text/plain", b"unexpected Host header\n", body)
            return
        url = urlsplit(self.path)
        live = self.server.live
        if url.path == "/":
            self._send(HTTPStatus.OK, "text/html", _page(live).encode(), body)
        elif url.path == "/dashboard.js":
            self._send(HTTPStatus.OK, "text/javascript", _SCRIPT.encode(), body)
        elif url.path == "/api/summary":
            self._send_json(live.summary(), body)
        elif url.path == "/api/sections":
            have = parse_qs(url.query).get("have", [None])[0]
            self._send_json(live.sections(have), body)
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n", body)

    def _host_allowed(self) -> bool:
        """On a loopback address, only a loopback Host (DNS rebinding cannot reach the data)."""
        if not _is_loopback(str(self.server.server_address[0])):
            return True
        try:
            name = urlsplit("//" + (self.headers.get("Host") or "")).hostname
        except ValueError:
            return False
        return name is not None and _is_loopback(name)

    def _send_json(self, data: dict[str, Any], body: bool) -> None:
        self._send(HTTPStatus.OK, "application/json", json.dumps(data, allow_nan=False).encode(), body)

    def _send(self, status: HTTPStatus, kind: str, payload: bytes, body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a poll every few seconds would fill the terminal."""


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() in _LOOPBACK_NAMES


# -- the page ---------------------------------------------------------------------------------

_CSS = """
#live{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:6px 0;z-index:1}
#live span{margin-right:14px}#state{font-weight:bold}#problem{color:#a00}
"""


def _page(live: LiveExperiment) -> str:
    """The page: the live header filled in by the script from /api/summary, the sections from
    /api/sections."""
    where = html.escape(str(live.path))
    nav = " ".join(
        f'<a href="#{section.id}">{html.escape(section.title)}</a>'
        for section in report.SECTIONS
        if section.id in LIVE_SECTIONS
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(live.path.name)}: tunefleet dashboard</title>"
        f"<style>{report.CSS}{_CSS}</style>"
        '<script src="/dashboard.js" defer></script></head><body>\n'
        f'<h1 id="name">{html.escape(live.path.name)}</h1>\n'
        f'<p class="sub">{where} · <span id="objective"></span> · live, read every {REFRESH_S:g} s · '
        f"the full report: <code>tunefleet report</code></p>\n"
        '<div id="live"><span id="state">loading</span>'
        '<span><b id="trial-count">-</b> trials <span id="status-counts"></span></span>'
        '<span>best <b id="best-value">-</b> <span id="best-trial"></span></span>'
        '<span id="changed"></span><span id="problem"></span></div>\n'
        f"<nav>{nav}</nav>\n"
        '<div id="sections"><p class="note">Reading the experiment directory...</p></div>\n'
        f'<p class="note">{html.escape(EXPERIMENT_FILE)} and the result files in {where}: nothing '
        "else is read, nothing is written.</p>\n</body></html>\n"
    )


#: The page's script: polls /api/summary, fetches /api/sections when the results changed. Text
#: from the directory goes in with textContent; the sections' HTML is escaped by report.py.
_SCRIPT = """\
"use strict";
let shown = null;  // the version of the sections on the page
let fetching = false;
function text(id, value) { document.getElementById(id).textContent = value; }
function ago(seconds) {
  if (seconds === null) return "";
  if (seconds < 90) return Math.round(seconds) + " s ago";
  if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
  return Math.round(seconds / 3600) + " h ago";
}
function showSummary(data) {
  text("problem", data.error ? "Cannot read the directory: " + data.error : "");
  const s = data.summary;
  text("changed", data.changed_ago_s === null ? "" : "results changed " + ago(data.changed_ago_s));
  if (!s) { text("state", data.error ? "waiting" : "loading"); return; }
  const counts = Object.entries(s.status_counts).map(([k, n]) => n + " " + k.toLowerCase());
  if (s.num_diverged) counts.push(s.num_diverged + " diverged");
  text("name", s.experiment.name);
  text("objective", s.metric + " (" + s.mode + ", scope=" + s.scope + ")");
  text("trial-count", String(s.num_trials));
  text("status-counts", counts.length ? "(" + counts.join(", ") + ")" : "");
  const running = s.num_unfinished > 0 || s.num_trials === 0;
  const quiet = data.changed_ago_s !== null && data.changed_ago_s > 300;
  text("state", !running ? "finished" : quiet ? "unfinished, no new results" : "running");
  const best = document.getElementById("best-value");
  if (s.best) {
    best.dataset.value = String(s.best.value);
    best.textContent = String(parseFloat(Number(s.best.value).toPrecision(6)));
    text("best-trial", "(trial " + s.best.trial_id + ", iteration " + s.best.training_iteration + ")");
  } else {
    delete best.dataset.value;
    best.textContent = "-";
    text("best-trial", "");
  }
}
async function showSections() {
  if (fetching) return;
  fetching = true;
  try {
    const have = shown === null ? "" : "?have=" + encodeURIComponent(shown);
    const response = await fetch("/api/sections" + have, {cache: "no-store"});
    const data = await response.json();
    replaceSections(data);
    // Newer results wait for the next redraw: ask again then rather than at a later poll.
    if (data.due_in_s !== null) setTimeout(() => showSections().catch(() => {}), data.due_in_s * 1000 + 50);
  } finally {
    fetching = false;
  }
}
function replaceSections(data) {
  if (!data.sections) return;
  const open = new Set([...document.querySelectorAll("details[open] summary b")].map(b => b.textContent));
  const parts = data.sections.map(s => {
    const section = document.createElement("section");
    section.id = s.id;
    const title = document.createElement("h2");
    title.textContent = s.title;
    const body = document.createElement("div");
    body.innerHTML = s.html;  // report.py's builders escape every text they put in
    section.append(title, body);
    return section;
  });
  document.getElementById("sections").replaceChildren(...parts);
  document.querySelectorAll("details summary b").forEach(b => {
    if (open.has(b.textContent)) b.closest("details").open = true;
  });
  shown = data.version;
  document.body.dataset.version = shown;
}
async function poll() {
  let wait = 2000;
  try {
    const response = await fetch("/api/summary", {cache: "no-store"});
    const data = await response.json();
    wait = data.refresh_s * 1000;
    showSummary(data);
    // Not awaited: the numbers go on following the directory while the figures are drawn.
    if (data.version !== null && data.version !== shown) showSections().catch(() => {});
  } catch (error) {
    text("state", "dashboard not reachable");
  }
  setTimeout(poll, wait);
}
poll();
"""
