"""The Hugging Face hub as the user has it: online unless they say otherwise, and never a long hang.

The toolkit does not force the hub off. Whether a load may reach the hub is decided at the time of the load:
- offline when the user set HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE, HF_DATASETS_OFFLINE) to a true value
  (1, ON, YES, TRUE), read from the environment at call time, not once at import;
- else offline when the hub endpoint (HF_ENDPOINT, default https://huggingface.co; proxies from the environment)
  does not answer one HEAD request within PROBE_TIMEOUT seconds (PLATONIC_HUB_TIMEOUT overrides it); the answer is
  remembered per endpoint for the process;
- else online: huggingface_hub, transformers, timm and datasets download what is missing into the user's cache.

Offline, every load is local-only (`local_only`): a model or dataset that is not on local disk fails at once with
an error naming it and how to provide it (`missing_message`), instead of waiting on timeouts and retries.
Imports only the standard library; huggingface_hub and datasets are patched only while a load runs.
"""
from __future__ import annotations

import contextlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

PROBE_TIMEOUT = 3.0  # seconds one probe of the endpoint may take
_TRUE = {"1", "ON", "YES", "TRUE"}
_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
_PROBED: dict[str, str | None] = {}  # endpoint -> None (reachable) or why not


def endpoint() -> str:
    """The hub endpoint the libraries use: $HF_ENDPOINT or https://huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def offline_by_env() -> str | None:
    """The variable that switches the hub off now (e.g. 'HF_HUB_OFFLINE=1'), or None."""
    for var in _VARS:
        value = os.environ.get(var)
        if value is not None and value.strip().upper() in _TRUE:
            return f"{var}={value}"
    return None


def probe(url: str | None = None, timeout: float | None = None) -> str | None:
    """None when `url` (default: the endpoint) answers a HEAD request within `timeout` seconds (any HTTP status
    counts as an answer), else a one-line reason. Remembered per URL for the process (see `forget`)."""
    url = url or endpoint()
    if url in _PROBED:
        return _PROBED[url]
    if timeout is None:
        try:
            timeout = float(os.environ.get("PLATONIC_HUB_TIMEOUT") or PROBE_TIMEOUT)
        except ValueError:
            timeout = PROBE_TIMEOUT
    why = None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            pass
    except urllib.error.HTTPError:
        pass  # the server answered
    except Exception as e:  # noqa: BLE001 - URLError, socket.timeout, ssl errors, ValueError for a bad URL ...
        reason = getattr(e, "reason", e)
        why = f"{url} cannot be reached ({type(reason).__name__}: {reason})"
    _PROBED[url] = why
    return why


def forget() -> None:
    """Forget the remembered probes (a later load probes again)."""
    _PROBED.clear()


def offline_reason() -> str | None:
    """Why loads must be local-only now (the variable set, or the endpoint unreachable), or None when online."""
    return offline_by_env() or probe()


@contextlib.contextmanager
def local_only(offline: bool = True):
    """While the block runs, huggingface_hub (and datasets, when imported) refuse network access when `offline`:
    their module-level switches are read at import time, so they are set here for the call and restored after."""
    if not offline:
        yield
        return
    import huggingface_hub.constants as hc

    saved = [(hc, "HF_HUB_OFFLINE", hc.HF_HUB_OFFLINE)]
    hc.HF_HUB_OFFLINE = True
    ds = sys.modules.get("datasets.config")
    if ds is not None:
        for attr in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
            if hasattr(ds, attr):
                saved.append((ds, attr, getattr(ds, attr)))
                setattr(ds, attr, True)
    try:
        yield
    finally:
        for mod, attr, value in saved:
            setattr(mod, attr, value)


def cached(repo_id: str, repo_type: str = "model") -> bool:
    """Whether the local Hugging Face hub cache holds a snapshot of `repo_id` (any revision); for datasets also the
    datasets library's own cache (HF_DATASETS_CACHE), where a dataset loaded once may live. Reads no file."""
    from huggingface_hub import constants

    if any((Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots").glob("*")):
        return True
    if repo_type == "dataset":
        from datasets import config

        return (Path(config.HF_DATASETS_CACHE) / repo_id.replace("/", "___")).is_dir()
    return False


def missing_message(kind: str, name: str, reason: str | None, remedy: str, err: BaseException | None = None) -> str:
    """One message for a model or dataset that is neither on local disk nor downloadable now."""
    where = (f"the hub is off ({reason})" if reason and reason.startswith(_VARS)
             else f"the hub is unreachable: {reason}" if reason else "the hub could not provide it")
    tail = f" ({type(err).__name__}: {' '.join(str(err).split())[:300]})" if err is not None else ""
    return (f"No local copy of {kind} {name!r} and {where}. Provide it: {remedy}; or run once where the hub is "
            f"reachable (unset HF_HUB_OFFLINE) so that it is cached in HF_HOME.{tail}")
