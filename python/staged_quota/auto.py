"""Automatic metering, installed by staged's sitecustomize: every request to a mapped host acquires 1 call first.

Covered: http.client (so urllib.request), urllib3 and requests (metered per request in the connection pool, whose
kept-alive sockets are closed after a long wait), and curl_cffi.requests.Session (patched when imported).
A 429 answer is reported to the agent with its Retry-After.
"""

import functools
import http.client
import importlib.abc
import sys
import threading
import time
import urllib.parse

import staged_quota

DEFAULT_PORTS = {"http": 80, "https": 443}

# A kept-alive socket idle this long while we waited for a grant may have been closed by the server: reconnect.
RECONNECT_AFTER_WAIT_SECONDS = 1.0

_local = threading.local()
_reported = set()


def warn_once(key, message):
    if key in _reported:
        return
    _reported.add(key)
    sys.stderr.write("staged-quota: {}\n".format(message))
    sys.stderr.flush()


def _url_quota(url, base_url=None):
    """The quota for an absolute URL (relative ones against base_url), or None."""
    if base_url:
        url = urllib.parse.urljoin(base_url, url)
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    return staged_quota.quota_for(parts.hostname, port or DEFAULT_PORTS.get(parts.scheme.lower()))


def _report_429(quota, retry_after):
    try:
        staged_quota.report_rate_limited(quota, staged_quota.retry_after_seconds(retry_after))
    except staged_quota.QuotaRefused as refusal:
        warn_once("report:" + quota, "could not report a 429 for quota {}: {}".format(quota, refusal))


def _is_absolute(url):
    return url.lower().startswith(("http://", "https://"))


def _connection_quota(connection, url):
    """The quota of the host a http.client connection really talks to, past any proxy."""
    if getattr(connection, "staged_quota_exempt", False):
        return None
    if _is_absolute(url):  # absolute form: a plain-HTTP request through a proxy
        return _url_quota(url)
    tunnel_host = getattr(connection, "_tunnel_host", None)
    if tunnel_host:
        return staged_quota.quota_for(tunnel_host, getattr(connection, "_tunnel_port", None))
    return staged_quota.quota_for(connection.host, connection.port)


def patch_http_client():
    connection_class = http.client.HTTPConnection
    original_putrequest = connection_class.putrequest
    original_getresponse = connection_class.getresponse

    @functools.wraps(original_putrequest)
    def putrequest(self, method, url, *args, **kwargs):
        quota = _connection_quota(self, url)
        self._staged_quota = quota
        if quota is not None and not getattr(_local, "metered_above", False):
            asked = time.monotonic()
            staged_quota.acquire(quota)
            if self.sock is not None and time.monotonic() - asked > RECONNECT_AFTER_WAIT_SECONDS:
                self.close()
        return original_putrequest(self, method, url, *args, **kwargs)

    @functools.wraps(original_getresponse)
    def getresponse(self, *args, **kwargs):
        response = original_getresponse(self, *args, **kwargs)
        quota = getattr(self, "_staged_quota", None)
        if quota is not None and response.status == 429:
            _report_429(quota, response.getheader("Retry-After"))
        return response

    connection_class.putrequest = putrequest
    connection_class.getresponse = getresponse


def patch_urllib3(connectionpool):
    """Acquires per urlopen (each retry and redirect is its own call); http.client below then only reports 429s."""
    pool_class = connectionpool.HTTPConnectionPool
    original_urlopen = pool_class.urlopen

    @functools.wraps(original_urlopen)
    def urlopen(self, method, url, *args, **kwargs):
        if _is_absolute(url):
            quota = _url_quota(url)
        else:
            quota = staged_quota.quota_for(self.host, self.port or DEFAULT_PORTS.get(self.scheme))
        if quota is not None:
            asked = time.monotonic()
            staged_quota.acquire(quota)
            if time.monotonic() - asked > RECONNECT_AFTER_WAIT_SECONDS:
                _close_idle_connections(self)
        outer = getattr(_local, "metered_above", False)
        _local.metered_above = True
        try:
            return original_urlopen(self, method, url, *args, **kwargs)
        finally:
            _local.metered_above = outer

    pool_class.urlopen = urlopen


def _close_idle_connections(pool):
    """Closes the pool's kept-alive sockets: its server may close them at any moment now, even as one is reused.

    A closed connection stays in the pool and opens a new socket when next used, as urllib3 does with a dropped one.
    """
    idle = getattr(pool, "pool", None)
    if idle is None:
        return
    for _ in range(idle.qsize()):
        try:
            connection = idle.get(block=False)
        except Exception:  # emptied by another thread meanwhile
            return
        if connection is not None:
            connection.close()
        idle.put(connection, block=False)


def patch_curl_cffi(requests_module):
    """curl_cffi speaks through libcurl, not http.client: meter its Session.request (module functions use it too)."""
    session_class = requests_module.Session
    original_request = session_class.request

    @functools.wraps(original_request)
    def request(self, method, url, *args, **kwargs):
        quota = _url_quota(url, getattr(self, "base_url", None))
        if quota is not None:
            staged_quota.acquire(quota)
        response = original_request(self, method, url, *args, **kwargs)
        if quota is not None and getattr(response, "status_code", None) == 429:
            _report_429(quota, response.headers.get("Retry-After"))
        return response

    session_class.request = request


def _patch_safely(patch, module):
    try:
        patch(module)
    except Exception as error:  # a failed patch must never break the script, only leave it unmetered
        warn_once("patch:" + module.__name__, "could not meter {}: {!r}".format(module.__name__, error))


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then the patch; everything else (resources, source) goes to the real loader."""

    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch_safely(self._patch, module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches a module the moment the script imports it; modules never imported cost nothing."""

    def __init__(self, patches):
        self._patches = dict(patches)

    def find_spec(self, fullname, path, target=None):
        patch = self._patches.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        del self._patches[fullname]
        spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


LAZY_PATCHES = {
    "urllib3.connectionpool": patch_urllib3,
    "curl_cffi.requests": patch_curl_cffi,
}


def install():
    staged_quota.host_map()  # a malformed STAGED_QUOTA_HOSTS fails here, once, rather than in every request
    patch_http_client()
    pending = {}
    for name, patch in LAZY_PATCHES.items():
        if name in sys.modules:
            _patch_safely(patch, sys.modules[name])
        else:
            pending[name] = patch
    sys.meta_path.insert(0, PatchOnImport(pending))
