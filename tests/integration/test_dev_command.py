"""``c3-render dev`` as a new user runs it: start, follow the printed example, Ctrl-C."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import requests

from render_core.devtools.devservices import free_port
from support.servers import wait_for


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_dev_serves_the_printed_examples_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("C3_", "MINIO_", "REDIS_", "PROMETHEUS_"))}
    log = open(tmp_path / "dev.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "render_core.cli", "dev", "--data-dir",
                                str(tmp_path / "data"), "--port", str(port)], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        def banner():
            text = (tmp_path / "dev.log").read_text()
            assert process.poll() is None, text
            return text if "Ctrl-C stops everything" in text else None

        output = wait_for(banner, timeout=180, interval=0.5, message="the dev banner")
        example = re.search(r"curl -s -X POST (\S+)/analyze -d '(.*)'", output)
        assert example, output
        api, body = example.group(1), example.group(2)
        assert api == f"http://127.0.0.1:{port}"
        tasks = re.search(r"tasks +POST (.*)", output).group(1).split(", ")
        assert {"/analyze", "/csm", "/whisper", "/portrait", "/echo"} <= set(tasks)  # every installed task
        assert "/uploads" not in tasks  # the core's own POST routes are not tasks
        assert "/whisper -d '{\"audio_url\": \"http://127.0.0.1:" in output  # a real speech sample was made
        job_id = requests.post(f"{api}/analyze", data=body, timeout=10).json()["id"]
        def finished():
            body = requests.get(f"{api}/status/{job_id}", timeout=5).json()
            return body if body["status"] not in ("queued", "running") else None

        status = wait_for(finished, timeout=120, message="the analyze job")
        assert status["status"] == "success", status
        assert "C3 RENDER" in requests.get(f"{api}/result/{job_id}", timeout=5).json()["text"].upper()

        cli = re.search(r"c3-render submit analyze --file (\S+) --wait", output)  # the CLI example, as printed
        assert cli, output
        for task in ("analyze", "csm", "whisper", "portrait"):
            assert f"c3-render submit {task} " in output
        done = subprocess.run([sys.executable, "-m", "render_core.cli", "submit", "analyze", "--file", cli.group(1),
                               "--wait"], env={**env, "C3_RENDER_URL": api}, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, done.stderr
        assert "C3 RENDER" in done.stdout.upper()
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0, (tmp_path / "dev.log").read_text()
    time.sleep(0.5)
    assert not _port_open(port)
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert leftovers.strip() == "", leftovers
