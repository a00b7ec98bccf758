"""Staged's quota budget inside experiment scripts: ask the worker's quota agent before each call to a metered API.

The agent speaks HTTP/1.1 on a UNIX socket (STAGED_QUOTA_SOCKET) and answers POST /acquire only once the calls
are granted. Outside staged (no STAGED_QUOTA_SOCKET) every function here is a no-op, so scripts still run by hand.
Standard library only; Python 3.8 or newer.
"""

import contextlib
import email.utils
import http.client
import json
import os
import socket
import sys
import threading
import time

__all__ = [
    "QuotaRefused",
    "UnixHTTPConnection",
    "acquire",
    "report_rate_limited",
    "quota_for",
    "host_map",
    "metered",
    "retry_after_seconds",
    "agent_configured",
]

SOCKET_VARIABLE = "STAGED_QUOTA_SOCKET"
TOKEN_VARIABLE = "STAGED_QUOTA_TOKEN"
HOSTS_VARIABLE = "STAGED_QUOTA_HOSTS"
AUTO_VARIABLE = "STAGED_QUOTA_AUTO"

# While the agent is away (a worker restarting, a run waiting to be adopted) a connect costs nothing: ask often.
FIRST_RETRY_DELAY_SECONDS = 0.05
LONGEST_RETRY_DELAY_SECONDS = 0.25
# "Ask again": the run is between workers (let go by one, not yet adopted by the next).
RETRY_STATUS = 503


class QuotaRefused(RuntimeError):
    """The agent answered but would not grant: unknown token (401), undeclared quota (403) or bad request (400)."""

    def __init__(self, status, message):
        super().__init__("quota agent refused ({}): {}".format(status, message))
        self.status = status
        self.message = message


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection to a UNIX domain socket; never times out, since a grant may take minutes."""

    # The automatic metering in sitecustomize skips connections that carry this mark: the agent's own traffic.
    staged_quota_exempt = True

    def __init__(self, socket_path):
        super().__init__("localhost", timeout=None)
        self.socket_path = socket_path

    def connect(self):
        unix_socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            unix_socket.settimeout(None)
            unix_socket.connect(self.socket_path)
        except BaseException:
            unix_socket.close()
            raise
        self.sock = unix_socket


def agent_configured():
    return bool(os.environ.get(SOCKET_VARIABLE))


_announced_agent_away = False
_announce_lock = threading.Lock()


def _announce_agent_away(socket_path, error):
    global _announced_agent_away
    with _announce_lock:
        if _announced_agent_away:
            return
        _announced_agent_away = True
    sys.stderr.write(
        "staged-quota: quota agent at {} is not answering ({}); waiting for it, retrying\n".format(socket_path, error)
    )
    sys.stderr.flush()


def _post(path, body):
    """POSTs JSON to the agent; retries with backoff while the agent is away, however long; returns (status, bytes)."""
    socket_path = os.environ[SOCKET_VARIABLE]
    headers = {
        "Authorization": "Bearer " + os.environ.get(TOKEN_VARIABLE, ""),
        "Content-Type": "application/json",
    }
    payload = json.dumps(body).encode("utf-8")
    delay = FIRST_RETRY_DELAY_SECONDS
    while True:
        connection = UnixHTTPConnection(socket_path)
        try:
            connection.request("POST", path, body=payload, headers=headers)
            response = connection.getresponse()
            content = response.read()
            if response.status != RETRY_STATUS:
                return response.status, content
            _announce_agent_away(socket_path, _refusal_message(content))
        except (OSError, http.client.HTTPException) as error:
            # A missing socket, a refusal or a dropped connection all mean the worker is restarting.
            _announce_agent_away(socket_path, error)
        finally:
            connection.close()
        time.sleep(delay)
        delay = min(delay * 2, LONGEST_RETRY_DELAY_SECONDS)


def _refusal_message(content):
    try:
        return str(json.loads(content.decode("utf-8"))["error"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return content.decode("utf-8", "replace").strip() or "no message"


def acquire(quota, n=1):
    """Blocks until the agent grants `n` calls of `quota`; returns the number granted (n at once outside staged)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError("calls must be a positive integer, not {!r}".format(n))
    if not agent_configured():
        return n
    status, content = _post("/acquire", {"quota": quota, "calls": n})
    if status != 200:
        raise QuotaRefused(status, _refusal_message(content))
    return int(json.loads(content.decode("utf-8"))["granted"])


def report_rate_limited(quota, retry_after=None):
    """Tells the agent the API answered 429; `retry_after` is seconds, an HTTP date, or None."""
    if not agent_configured():
        return
    seconds = retry_after_seconds(retry_after) if isinstance(retry_after, str) else retry_after
    status, content = _post("/rate-limited", {"quota": quota, "retryAfterSeconds": seconds})
    if status != 204:
        raise QuotaRefused(status, _refusal_message(content))


def retry_after_seconds(value, now=None):
    """A Retry-After header value (delay seconds or HTTP date) as seconds from now, or None if absent or invalid."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
        return seconds if seconds >= 0 else None
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, round(moment.timestamp() - current, 3))


_host_map_cache = (None, {})


def host_map():
    """STAGED_QUOTA_HOSTS as a dict of lowercase `host` or `host:port` to quota name; ValueError if malformed."""
    global _host_map_cache
    raw = os.environ.get(HOSTS_VARIABLE) or "{}"
    if _host_map_cache[0] == raw:
        return _host_map_cache[1]
    try:
        parsed = json.loads(raw)
    except ValueError as error:
        raise ValueError("{} is not JSON: {}".format(HOSTS_VARIABLE, error))
    if not isinstance(parsed, dict) or not all(isinstance(name, str) for name in parsed.values()):
        raise ValueError("{} must be a JSON object of host to quota name".format(HOSTS_VARIABLE))
    mapping = {key.lower(): name for key, name in parsed.items()}
    _host_map_cache = (raw, mapping)
    return mapping


def quota_for(host, port=None):
    """The quota metering `host` (the `host:port` entry first, then `host`), or None when the host is not mapped."""
    if not host:
        return None
    name = host.lower().strip("[]").rstrip(".")
    mapping = host_map()
    if port is not None:
        with_port = "{}:{}".format(name, port)
        if with_port in mapping:
            return mapping[with_port]
    return mapping.get(name)


class metered(contextlib.ContextDecorator):
    """`with metered("yahoo"):` or `@metered("yahoo")`: acquires `n` calls before the block or function runs."""

    def __init__(self, quota, n=1):
        self.quota = quota
        self.n = n

    def __enter__(self):
        acquire(self.quota, self.n)
        return self

    def __exit__(self, *exc_info):
        return False
