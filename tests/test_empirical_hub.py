"""Issue 11, item 1: the hub as the user has it. Importing empirical forces nothing; with the hub off or the network
unreachable, a model or dataset that is not on local disk fails within seconds, naming it and how to provide it."""
import os
import socket
import subprocess
import sys
import time

import pytest

from empirical import data, hub, models


@pytest.fixture(autouse=True)
def clean_hub(monkeypatch, tmp_path):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT",
                "PLATONIC_HUB_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing is on local disk
    hub.forget()
    yield
    hub.forget()


@pytest.fixture
def silent_server():
    """A loopback port that accepts connections (the kernel completes the handshake) and never answers: a hub
    that hangs, as behind a firewall that drops replies."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    srv.close()


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def test_importing_empirical_forces_no_offline_setting():
    code = ("import os, empirical, empirical.models, empirical.data, empirical.features; "
            "assert not any(v in os.environ for v in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE')), dict(os.environ)")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_offline_reason_follows_the_environment_at_call_time(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", _closed_port())
    assert "cannot be reached" in hub.offline_reason()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.offline_reason() == "HF_HUB_OFFLINE=1"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "yes")
    assert hub.offline_reason() == "TRANSFORMERS_OFFLINE=yes"


def test_local_only_switches_the_libraries_for_the_call_and_restores_them():
    import huggingface_hub.constants as hc

    before = hc.HF_HUB_OFFLINE
    with hub.local_only(True):
        assert hc.HF_HUB_OFFLINE is True and hc.is_offline_mode()
    assert hc.HF_HUB_OFFLINE == before
    with hub.local_only(False):
        assert hc.HF_HUB_OFFLINE == before


def test_an_answering_endpoint_is_online():
    import http.server
    import threading

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802
            self.send_response(404)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=srv.handle_request, daemon=True).start()
    try:
        assert hub.probe(f"http://127.0.0.1:{srv.server_port}", timeout=5) is None  # any HTTP answer counts
    finally:
        srv.server_close()


LOADS = [
    ("model hf", lambda: models.load("hf:someone/no-such-model"), models.WeightsNotFound,
     r"model 'hf:someone/no-such-model'.*hf:/path/to/model_dir"),
    ("model timm", lambda: models.load("timm:resnet50.a1_in1k"), models.WeightsNotFound,
     r"model 'timm:resnet50\.a1_in1k'.*timm:ARCH@/path/weights\.safetensors"),
    ("is_causal", lambda: models.is_causal("hf:someone/no-such-model"), models.WeightsNotFound,
     r"model 'hf:someone/no-such-model'"),
    ("dataset", lambda: data.load("hf:someone/no-such-data@v1:test"), data.DataNotFound,
     r"dataset 'hf:someone/no-such-data@v1:test'.*save_to_disk\(DIR\).*'hf:DIR'"),
]


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE=1", "connection refused", "no answer"])
@pytest.mark.parametrize("what, load, exc, message", LOADS, ids=[x[0] for x in LOADS])
def test_missing_model_or_dataset_fails_fast_naming_it(how, what, load, exc, message, monkeypatch, silent_server):
    if how == "HF_HUB_OFFLINE=1":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        why = r"the hub is off \(HF_HUB_OFFLINE=1\)"
    elif how == "connection refused":
        monkeypatch.setenv("HF_ENDPOINT", _closed_port())
        why = r"the hub is unreachable: http://127\.0\.0\.1:\d+ cannot be reached \(ConnectionRefusedError"
    else:
        monkeypatch.setenv("HF_ENDPOINT", silent_server)
        monkeypatch.setenv("PLATONIC_HUB_TIMEOUT", "1")
        why = r"the hub is unreachable: .* cannot be reached \(.*timed out"
    start = time.perf_counter()
    with pytest.raises(exc, match=message) as err:
        load()
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"{what} took {elapsed:.1f}s to fail"
    import re

    assert re.search(why, str(err.value)), str(err.value)
    assert "unset HF_HUB_OFFLINE" in str(err.value)  # and how to get it cached


def test_a_local_folder_never_asks_the_hub(monkeypatch, silent_server):
    monkeypatch.setenv("HF_ENDPOINT", silent_server)
    monkeypatch.setenv("PLATONIC_HUB_TIMEOUT", "30")  # a probe would take 30 s
    start = time.perf_counter()
    m = models.load(f"hf:{models._minilm_dir()}")
    assert m.modality == "language" and time.perf_counter() - start < 25
    assert hub._PROBED == {}
