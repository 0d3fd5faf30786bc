"""The ``comput3`` provider: GPU workloads rented through the Comput3.AI control API.

Protocol: docs/protocols.md, "Comput3 control API" (calls, answers, node URLs, health).
Every API call sends ``X-C3-API-KEY`` and a JSON body, with connect/read timeouts.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import replace
from datetime import datetime
from html.parser import HTMLParser
from typing import Callable, Iterable

import requests

from render_core.config.settings import Settings
from render_core.net.http import FetchError, Timeouts, session
from render_core.sdk.node import Node

from .base import Instance, LaunchError
from .common import OPERATOR_TARGETS, node_answers
from .errors import ProviderError

log = logging.getLogger(__name__)

COMPUT3_DOMAIN = "comput3.ai"
BODY_EXCERPT_CHARS = 200
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
#: The settings' defaults, the defaults of the provider.
_DEFAULTS = Settings()


class Comput3Provider:
    """Launch, list, stop and health-check Comput3 workloads.

    Parameters:
      api_url: control API base, e.g. ``https://api.comput3.ai/api/v0``.
      api_key: sent as ``X-C3-API-KEY`` to the API and to the nodes.
      node_url_template / ui_url_template: ``{node}`` receives the node's host name
        (with ``.comput3.ai`` appended when the API gave a bare name).
      launch_backoff: seconds to wait before retry 1, 2, ...; the last value is reused
        when there are more retries than values.
      launch_attempts: tries per launch (default: one more than ``len(launch_backoff)``).
      health_timeout: seconds allowed for the node's ``GET /`` (connect and read each).
      api_timeouts: connect/read timeouts (s) of control API calls.
      sleep: ``sleep(seconds)`` between launch tries (tests pass a recorder; a caller
        may pass one that returns early when it must stop).
      clock: unix time (s), used as ``launched_at`` of new instances.
    """

    name = "comput3"
    unlimited = False
    #: Workloads exist only while launched: reconcile adopts or stops ones the pool does not know.
    always_running = False

    def __init__(self, api_url: str, api_key: str, *, node_url_template: str = _DEFAULTS.c3_node_url,
                 ui_url_template: str = _DEFAULTS.c3_ui_url,
                 launch_backoff: Iterable[float] = tuple(_DEFAULTS.backoff_delays()),
                 launch_attempts: int | None = None, health_timeout: float = _DEFAULTS.health_timeout,
                 api_timeouts: Timeouts = Timeouts(connect=10.0, read=60.0),
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time):
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        self.node_url_template = node_url_template
        self.ui_url_template = ui_url_template
        self.launch_backoff = [float(delay) for delay in launch_backoff]
        self.launch_attempts = launch_attempts if launch_attempts is not None else len(self.launch_backoff) + 1
        if self.launch_attempts < 1:
            raise ValueError("launch_attempts must be at least 1")
        self.health_timeout = health_timeout
        self.api_timeouts = api_timeouts
        self.sleep = sleep
        self.clock = clock

    @classmethod
    def from_settings(cls, settings) -> "Comput3Provider":
        """Build from C3_API_URL, C3_API_KEY, C3_NODE_URL, C3_UI_URL, C3_LAUNCH_ATTEMPTS,
        C3_LAUNCH_BACKOFF and HEALTH_TIMEOUT."""
        if not settings.c3_api_key:
            raise ProviderError("GPU_PROVIDER=comput3 needs C3_API_KEY (the Comput3.AI API key)")
        return cls(settings.c3_api_url, settings.c3_api_key, node_url_template=settings.c3_node_url,
                   ui_url_template=settings.c3_ui_url, launch_backoff=settings.backoff_delays(),
                   launch_attempts=settings.c3_launch_attempts, health_timeout=settings.health_timeout)

    # ------------------------------------------------------------------ provider interface

    def launch(self, workload: str, *, expires_at: float,
               taken: frozenset[str] | set[str] = frozenset()) -> Instance:
        """``POST /launch``; retried with ``launch_backoff`` on transient failures (``taken`` is ignored).

        Transient: no answer, a status other than 200, an HTML page (CDN error) or JSON
        without ``node``/``workload``. A refused API key is not retried.
        Raises LaunchError naming the last failure.
        """
        payload = {"type": workload, "expires": int(expires_at)}
        failure = "no attempt made"
        for attempt in range(1, self.launch_attempts + 1):
            if attempt > 1:
                delay = self._retry_delay(attempt - 1)
                log.warning("Comput3 launch of %s failed (%s); try %d of %d in %g s",
                            workload, failure, attempt, self.launch_attempts, delay)
                self.sleep(delay)
            try:
                response = self._post("/launch", payload)
            except requests.RequestException as exc:
                failure = _describe_exception(exc, self.api_timeouts)
                continue
            except FetchError as exc:  # the address policy refused C3_API_URL: retrying cannot help
                raise LaunchError(f"cannot reach the Comput3 API: {exc}") from exc
            if response.status_code in (401, 403):
                raise LaunchError(_key_refused(response, "launch"))
            answer = _launch_answer(response)
            if answer is None:
                failure = _describe_response(response)
                continue
            return self._launched(workload, answer, expires_at)
        raise LaunchError(f"could not launch a {workload} instance on Comput3 after "
                          f"{self.launch_attempts} attempt(s); last failure: {failure}")

    def stop(self, instance_id: str) -> None:
        """``POST /stop``; an unknown or already stopped workload is not an error.

        Raises ProviderError when the API refuses or cannot be reached.
        """
        response = self._checked_call("/stop", {"workload": instance_id}, "stop workload " + instance_id,
                                      tolerate=_already_gone)
        if response.status_code == 200:
            answer = _json_or_none(response)
            if isinstance(answer, dict) and answer:
                log.info("stopped Comput3 workload %s (stopped=%s, refund=%s)", instance_id,
                         answer.get("stopped"), answer.get("refund_amount"))

    def list_running(self) -> list[Instance]:
        """``POST /workloads {"running": true}``: the usable ones (``running`` and status ``running``).

        Raises ProviderError when the API refuses, cannot be reached or answers something
        that is not a list of workloads.
        """
        response = self._checked_call("/workloads", {"running": True}, "list workloads")
        items = _json_or_none(response)
        if isinstance(items, dict):
            items = items.get("workloads")
        if not isinstance(items, list):
            raise ProviderError(f"the Comput3 API answered the workload list with something else than a list: "
                                f"{_excerpt(response.text)!r}")
        instances = []
        for item in items:
            if not isinstance(item, dict) or not item.get("workload"):
                log.debug("ignoring malformed Comput3 workload entry %r", item)
                continue
            if item.get("running") is True and item.get("status") == "running":
                instances.append(self._listed(item))
        return instances

    def health(self, instance: Instance) -> bool:
        """One check: the workload is still listed AND ``GET <node>/`` answers 200 within ``health_timeout``.

        When the API itself cannot be asked (outage), the node's own answer decides, so an
        API hiccup does not make every node look dead.
        """
        try:
            listed = {running.id for running in self.list_running()}
        except ProviderError as exc:
            log.warning("cannot list Comput3 workloads (%s); judging %s by its node alone", exc, instance.id)
        else:
            if instance.id not in listed:
                return False
        return node_answers(instance.node.base_url, instance.node.headers, self.health_timeout)

    def authorize(self, node: Node) -> Node:
        """``node`` with the account key as ``X-C3-API-KEY`` (the pool stores no key)."""
        return replace(node, headers=self._headers())

    # ------------------------------------------------------------------ helpers

    def node_for(self, node_name: str, workload_id: str) -> Node:
        """How tasks reach a node named ``node_name`` by the API (base URL, service URLs, auth)."""
        host = node_hostname(node_name)
        if host is None:
            return Node(instance_id=workload_id, headers=self._headers())
        base = self.node_url_template.format(node=host).rstrip("/")
        return Node(base_url=base, headers=self._headers(), instance_id=workload_id,
                    urls={"csm": base + "/csm/", "whisper": base + "/whisper/",
                          "ui": self.ui_url_template.format(node=host)})

    def _retry_delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if not self.launch_backoff:
            return 0.0
        return self.launch_backoff[min(retry, len(self.launch_backoff)) - 1]

    def _headers(self) -> dict:
        return {"X-C3-API-KEY": self.api_key}

    def _post(self, path: str, payload: dict) -> requests.Response:
        with session(OPERATOR_TARGETS, self.api_timeouts) as api:
            return api.post(self.api_url + path, json=payload, headers=self._headers())

    def _checked_call(self, path: str, payload: dict, what: str,
                      tolerate: Callable[[requests.Response], bool] = lambda response: False) -> requests.Response:
        """POST and return a 200 (or ``tolerate``d) answer; anything else raises ProviderError."""
        try:
            response = self._post(path, payload)
        except requests.RequestException as exc:
            raise ProviderError(f"could not {what} at the Comput3 API: "
                                f"{_describe_exception(exc, self.api_timeouts)}") from exc
        except FetchError as exc:
            raise ProviderError(f"could not {what} at the Comput3 API: {exc}") from exc
        if response.status_code in (401, 403):
            raise ProviderError(_key_refused(response, what))
        if response.status_code != 200 and not tolerate(response):
            raise ProviderError(f"could not {what} at the Comput3 API: {_describe_response(response)}")
        return response

    def _launched(self, workload: str, answer: dict, expires_at: float) -> Instance:
        workload_id = str(answer["workload"])
        node = self.node_for(str(answer["node"]), workload_id)
        log.info("launched Comput3 %s workload %s on %s", workload, workload_id, node.base_url)
        return Instance(id=workload_id, workload=workload, node=node, launched_at=self.clock(),
                        expires_at=float(int(expires_at)), provider=self.name,
                        extra={"node": node_hostname(str(answer["node"])),
                               "workload_key": answer.get("workload_key", "")})

    def _listed(self, item: dict) -> Instance:
        workload_id = str(item["workload"])
        node_name = str(item.get("node") or "")
        return Instance(id=workload_id, workload=str(item.get("type") or ""),
                        node=self.node_for(node_name, workload_id),
                        launched_at=_unix_time(item.get("created")) or 0.0,
                        expires_at=_unix_time(item.get("expires")), provider=self.name,
                        extra={"node": node_hostname(node_name), "status": item.get("status")})


def node_hostname(node: str) -> str | None:
    """The node's host name: ``.comput3.ai`` appended to a bare name; None when it is no host name.

    Tolerates a scheme or a path around it (``https://abc.comput3.ai/`` -> ``abc.comput3.ai``).
    """
    host = re.sub(r"^[a-z]+://", "", node.strip(), flags=re.IGNORECASE).split("/", 1)[0].rstrip(".")
    if not _HOSTNAME.match(host):
        return None
    return host if "." in host else f"{host}.{COMPUT3_DOMAIN}"


def _launch_answer(response: requests.Response) -> dict | None:
    """The launch answer when it is a 200 JSON object naming a valid node and a workload, else None."""
    if response.status_code != 200 or _is_html(response):
        return None
    answer = _json_or_none(response)
    if not isinstance(answer, dict) or not answer.get("workload") or not answer.get("node"):
        return None
    return answer if node_hostname(str(answer["node"])) else None


def _already_gone(response: requests.Response) -> bool:
    """True when a stop failed only because the workload is unknown or already stopped."""
    return response.status_code == 404 or (
        400 <= response.status_code < 500 and re.search(r"not found|already stopped", response.text, re.I) is not None)


def _key_refused(response: requests.Response, what: str) -> str:
    return (f"the Comput3 API refused the API key (HTTP {response.status_code}) when asked to {what}; "
            f"check C3_API_KEY")


def _is_html(response: requests.Response) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    return "html" in content_type or response.text.lstrip()[:1] == "<"


def _json_or_none(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _describe_response(response: requests.Response) -> str:
    """``HTTP <status>: <first 200 characters of the body, HTML reduced to its text>``."""
    kind = " (an HTML page)" if _is_html(response) else ""
    body = _excerpt(response.text)
    if response.status_code == 200 and not kind:
        return f"HTTP 200 without a node and workload id: {body or '(empty body)'}"
    return f"HTTP {response.status_code}{kind}: {body or '(empty body)'}"


def _excerpt(text: str) -> str:
    """The first 200 characters of a body, HTML reduced to its visible text, whitespace collapsed."""
    if "<" in text:
        extractor = _TextOnly()
        extractor.feed(text)
        extractor.close()
        text = " ".join(extractor.parts)
    return " ".join(text.split())[:BODY_EXCERPT_CHARS]


class _TextOnly(HTMLParser):
    """Collects the visible text of an HTML page (no scripts, styles or tags)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def _describe_exception(exc: requests.RequestException, timeouts: Timeouts) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {timeouts.connect:g} s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no answer within {timeouts.read:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect (connection refused or broken)"
    return f"request failed ({type(exc).__name__})"


def _unix_time(value) -> float | None:
    """Unix seconds from a number or an ISO 8601 string; None when absent or unreadable."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
