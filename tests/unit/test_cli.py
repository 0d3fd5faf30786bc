import json
import subprocess
import sys

from render_core.cli import main


def test_plugins_json_lists_every_plugin_with_version_tasks_and_providers(capsys):
    assert main(["plugins", "--json"]) == 0
    plugins = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert plugins["echo"] == {"name": "echo", "version": "1.2.3", "tasks": ["echo", "echo-file", "echo-gpu"],
                               "providers": [], "api": ">=1.0,<2"}
    assert plugins["csm"]["tasks"] == ["csm"]
    assert plugins["c3_render.builtin_providers"]["providers"] == ["comput3", "local", "static"]


def test_plugins_text_output(capsys):
    main(["plugins"])
    assert "whisper 0.1.0: task whisper" in capsys.readouterr().out


def test_bad_setting_stops_start_up_with_the_variable_named():
    result = subprocess.run([sys.executable, "-m", "render_core.cli", "api"], capture_output=True, text=True,
                            env={"GPU_IDLE_TIMEOUT": "abc", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 2
    assert "GPU_IDLE_TIMEOUT='abc' is not valid" in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_lists_core_and_plugin_variables_with_secrets_hidden(capsys, monkeypatch):
    monkeypatch.setenv("MINIO_SECRET_KEY", "very-secret")
    monkeypatch.setenv("VISION_API_KEY", "also-secret")
    monkeypatch.setenv("WORKER_THREADS", "6")
    assert main(["settings"]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["WORKER_THREADS"] == "6"
    assert lines["MINIO_SECRET_KEY"] == "***" and lines["VISION_API_KEY"] == "***"
    assert {"MAX_RENDER_TIME", "C3_TTS_ENGINE", "C3_WHISPER_BEAM_SIZE", "ANALYZE_WORKLOAD"} <= set(lines)


def test_bad_plugin_setting_stops_the_worker_with_the_variable_named():
    result = subprocess.run([sys.executable, "-m", "render_core.cli", "worker"], capture_output=True, text=True,
                            env={"VISION_PROTOCOL": "grpc", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 2
    assert "VISION_PROTOCOL='grpc' is not valid" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_webhook_secret_stops_the_worker_at_start_without_showing_it():
    result = subprocess.run([sys.executable, "-m", "render_core.cli", "worker"], capture_output=True, text=True,
                            env={"WEBHOOK_SECRET": "whsec_c2hvcnQ=", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 2
    assert "WEBHOOK_SECRET is not valid: secret 1 decodes to 5 bytes" in result.stderr
    assert "c2hvcnQ" not in result.stderr and "Traceback" not in result.stderr


def _api_start(env: dict) -> subprocess.CompletedProcess:
    """``c3-render api`` with ``env``; gunicorn is pointed at a port that cannot be bound if it gets that far."""
    return subprocess.run([sys.executable, "-m", "render_core.cli", "api", "--bind", "256.0.0.1:1"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env}, timeout=60)


def test_api_without_a_key_refuses_to_start_and_names_the_opt_out():
    result = _api_start({})
    assert result.returncode == 2
    assert "C3_RENDER_API_KEY is not set" in result.stderr and "C3_RENDER_ALLOW_OPEN=true" in result.stderr
    assert "Traceback" not in result.stderr


def test_api_with_the_opt_out_gets_past_the_key_check():
    result = _api_start({"C3_RENDER_ALLOW_OPEN": "true"})
    assert "C3_RENDER_API_KEY is not set" not in result.stderr
