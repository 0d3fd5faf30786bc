"""Client for a remote vision model: Ollama ``/api/generate`` or an OpenAI-compatible
``/v1/chat/completions`` endpoint, asked to describe one image.

Settings: the VISION_* variables declared in settings.py, read at call time.
VISION_URL, when set, is used even without a GPU lease (default: the leased node's
``vision`` service).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import requests
from render_core.plugin import (JobError, Node, NodeAppError, NodeError, SettingsError, is_transport_failure,
                                read_settings)

from .loading import decode_upright, flatten_on_white, open_header
from .settings import (MAX_MEGAPIXELS, VISION_API_KEY, VISION_MODEL, VISION_PROMPT, VISION_PROTOCOL,
                       VISION_SETTINGS, VISION_TIMEOUT, VISION_URL, engine_setting)

DEFAULT_MODEL = VISION_MODEL.default
DEFAULT_PROMPT = VISION_PROMPT.default
CONNECT_TIMEOUT_S = 10.0
MAX_SIDE_PX = 1568  # longest side of the image sent to the model
JPEG_QUALITY = 90
_MESSAGE_CHARS = 300  # longest server message quoted in an error
_TRANSIENT_4XX = (408, 429)  # request timeout, too many requests: worth a retry


@dataclass(frozen=True)
class VisionSettings:
    """The vision endpoint configuration; ``url`` is "" when VISION_URL is unset."""

    url: str = VISION_URL.default
    protocol: str = VISION_PROTOCOL.default
    model: str = VISION_MODEL.default
    api_key: str = VISION_API_KEY.default
    prompt: str = VISION_PROMPT.default
    timeout_s: float = VISION_TIMEOUT.default

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "VisionSettings":
        """Read and check the VISION_* variables (default: the process environment); JobError names
        a bad one."""
        try:
            values = read_settings(VISION_SETTINGS, environ)
        except SettingsError as exc:
            raise _misconfigured(str(exc)) from None
        return cls(url=values[VISION_URL.name], protocol=values[VISION_PROTOCOL.name],
                   model=values[VISION_MODEL.name], api_key=values[VISION_API_KEY.name],
                   prompt=values[VISION_PROMPT.name], timeout_s=values[VISION_TIMEOUT.name])


@dataclass(frozen=True)
class Endpoint:
    """Where a request goes: the base URL, and headers to add to the session's own
    (a ``None`` value removes a session header from the request)."""

    base_url: str
    headers: dict


def url_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether VISION_URL is set (a bad value counts: VisionSettings.from_env reports it)."""
    try:
        return bool(VISION_URL.read(environ))
    except SettingsError:
        return True


def choose_endpoint(settings: VisionSettings, node: Node) -> Endpoint | None:
    """VISION_URL when set, else the leased node's ``vision`` service, else None (run locally).

    A separate VISION_URL never receives the node's auth headers; it gets only the
    Bearer key. A node gets its own headers plus a Bearer key: VISION_API_KEY, or
    else the node's X-C3-API-KEY value (node services accept either form).
    """
    if settings.url:
        hidden = {name: None for name in node.headers}
        return Endpoint(settings.url, {**hidden, **_bearer(settings.api_key)})
    if node.local:
        return None
    if settings.api_key or _header_value(node.headers, "Authorization") is None:
        key = settings.api_key or _header_value(node.headers, "X-C3-API-KEY") or ""
        return Endpoint(node.url_for("vision"), _bearer(key))
    return Endpoint(node.url_for("vision"), {})  # the node headers already carry Authorization


def encode_image(path: Path, max_side: int = MAX_SIDE_PX) -> bytes:
    """The image at ``path`` as JPEG bytes, upright, at most ``max_side`` px on its longer side.

    Re-encoding also drops EXIF (e.g. GPS) before the image leaves the worker.
    Raises BadImage (not an image, damaged, over C3_ANALYZE_MAX_MEGAPIXELS) or
    EngineSetupError, checked from the header before any pixel is decoded.
    """
    with open_header(Path(path), engine_setting(MAX_MEGAPIXELS)) as image:
        decoded = decode_upright(image, max_side)
    buffer = io.BytesIO()
    flatten_on_white(decoded.pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def describe(session: requests.Session, endpoint: Endpoint, settings: VisionSettings, prompt: str,
             jpeg: bytes, timeout_s: float) -> str:
    """Ask the model about ``jpeg`` with ``prompt``; return its answer, stripped.

    One blocking request: ``timeout_s`` bounds the connection and the wait for the
    answer (seconds). Raises NodeError (unreachable, timeout, 5xx, 408/429), NodeAppError
    (other 4xx with the server's message, a reply that is not JSON or in the wrong shape,
    an empty answer) or JobError (the request could not be built). Messages name no address.
    """
    protocol = _PROTOCOLS[settings.protocol]
    url = _join(endpoint.base_url, protocol.path)
    body = protocol.build(settings.model, prompt, base64.b64encode(jpeg).decode("ascii"))
    try:
        response = session.post(url, json=body, headers=endpoint.headers,
                                timeout=(min(CONNECT_TIMEOUT_S, timeout_s), timeout_s))
    except requests.Timeout:
        raise NodeError(f"the vision model did not answer within {timeout_s:g} s") from None
    except requests.RequestException as exc:
        if is_transport_failure(exc):
            raise NodeError(f"could not reach the vision model: {_reason(exc)}") from None
        raise JobError(f"the request to the vision model could not be made ({type(exc).__name__})") from None
    with response:
        _raise_for_status(response)
        try:
            data = response.json()
        except ValueError:
            raise NodeAppError(f"the vision endpoint answered HTTP {response.status_code} with "
                               f"{_describe_body(response)} instead of JSON") from None
    answer = protocol.read(data)
    if answer is None:
        raise NodeAppError(f"the vision endpoint's answer is not in the {settings.protocol} format "
                           f"(an operator should check {VISION_PROTOCOL.name})")
    if not answer.strip():
        raise NodeAppError("the vision model returned no text")
    return answer.strip()


# ------------------------------------------------------------------ protocols


@dataclass(frozen=True)
class _Protocol:
    path: str
    build: Callable[[str, str, str], dict]  # (model, prompt, base64 JPEG) -> JSON body
    read: Callable[[object], str | None]  # JSON answer -> text, or None when malformed


def _ollama_body(model: str, prompt: str, image_b64: str) -> dict:
    return {"model": model, "prompt": prompt, "stream": False, "images": [image_b64]}


def _ollama_answer(data: object) -> str | None:
    answer = data.get("response") if isinstance(data, dict) else None
    return answer if isinstance(answer, str) else None


def _openai_body(model: str, prompt: str, image_b64: str) -> dict:
    image_part = {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{image_b64}"}}
    return {"model": model, "stream": False,
            "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}, image_part]}]}


def _openai_answer(data: object) -> str | None:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    if content is None:
        return ""
    if isinstance(content, list):  # some servers answer with content parts
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else None


_PROTOCOLS = {
    "ollama": _Protocol("api/generate", _ollama_body, _ollama_answer),
    "openai": _Protocol("v1/chat/completions", _openai_body, _openai_answer),
}


# ------------------------------------------------------------------ helpers


def _join(base_url: str, path: str) -> str:
    """``base_url`` + ``path``; an OpenAI-style base that already ends in /v1 is not doubled."""
    base = base_url.rstrip("/")
    if path.startswith("v1/") and base.endswith("/v1"):
        path = path[len("v1/"):]
    return f"{base}/{path}"


def _bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _header_value(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def _raise_for_status(response: requests.Response) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    message = _server_message(response)
    if code >= 500 or code in _TRANSIENT_4XX:
        raise NodeError(f"the vision endpoint answered HTTP {code}: {message}")
    if code in (401, 403):
        raise NodeAppError(f"the vision endpoint refused the credentials (HTTP {code}: {message}); "
                       f"an operator should check {VISION_API_KEY.name}")
    raise NodeAppError(f"the vision model refused the request (HTTP {code}): {message}")


def _server_message(response: requests.Response) -> str:
    """The error message in a failed response: Ollama ``{"error": "..."}``, OpenAI
    ``{"error": {"message": ...}}``, ``{"message"}``/``{"detail"}``, or the body itself."""
    try:
        data = response.json()
    except ValueError:
        return _describe_body(response)
    if isinstance(data, dict):
        for candidate in (data.get("error"), data.get("message"), data.get("detail")):
            if isinstance(candidate, dict):
                candidate = candidate.get("message")
            if isinstance(candidate, str) and candidate.strip():
                return _shorten(candidate)
    return _shorten(response.text) or "no message"


def _describe_body(response: requests.Response) -> str:
    text = response.text.strip()
    if not text:
        return "an empty body"
    if text.startswith("<"):
        return "an HTML page"
    return repr(_shorten(text))


def _shorten(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _MESSAGE_CHARS else flat[:_MESSAGE_CHARS - 3] + "..."


def _reason(exc: requests.RequestException) -> str:
    """The innermost readable cause of a connection failure (e.g. "Connection refused")."""
    cause: object = exc
    for _ in range(8):  # requests -> urllib3 MaxRetryError -> NewConnectionError -> OSError
        if getattr(cause, "strerror", None):
            return cause.strerror
        nested = cause.args[0] if getattr(cause, "args", None) else None
        cause = getattr(cause, "reason", None) or (nested if isinstance(nested, BaseException) else None) \
            or getattr(cause, "__cause__", None)
        if cause is None:
            break
    return "the connection failed"  # the exception text names the address


def _misconfigured(detail: str) -> JobError:
    return JobError(f"the vision model is misconfigured on this worker: {detail}")
