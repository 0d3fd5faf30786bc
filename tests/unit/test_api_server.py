"""``c3-render api``: the server command for granian (default) and gunicorn."""

import pytest

from render_core.api_server import ServerOptions, server_argv, split_bind
from render_core import cli


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_granian_serves_the_wsgi_app_with_supervision_threads_and_graceful_stop():
    argv = server_argv(ServerOptions(bind="127.0.0.1:5001", workers=3, threads=16, access_log=False))
    assert argv[1:3] == ["-m", "granian"] and argv[-1] == "render_api.wsgi:app"
    assert _value(argv, "--interface") == "wsgi"
    assert (_value(argv, "--host"), _value(argv, "--port")) == ("127.0.0.1", "5001")
    assert (_value(argv, "--workers"), _value(argv, "--blocking-threads")) == ("3", "16")
    assert "--respawn-failed-workers" in argv and _value(argv, "--workers-kill-timeout") == "30"
    assert "--no-access-log" in argv


def test_gunicorn_keeps_its_flags_and_passes_extra_arguments():
    argv = server_argv(ServerOptions(server="gunicorn", bind="[::]:5000", threads=4, access_log=True),
                       ["--keep-alive", "5"])
    assert argv[1:3] == ["-m", "gunicorn"] and argv[-1] == "render_api.wsgi:app"
    assert _value(argv, "--bind") == "[::]:5000" and _value(argv, "--threads") == "4"
    assert _value(argv, "--worker-class") == "gthread"
    assert _value(argv, "--graceful-timeout") == "30" and _value(argv, "--access-logfile") == "-"
    assert argv[-3:-1] == ["--keep-alive", "5"]


def test_unknown_server_and_bad_bind_are_refused():
    with pytest.raises(ValueError, match="unknown API server 'uwsgi'"):
        server_argv(ServerOptions(server="uwsgi"))
    with pytest.raises(ValueError, match="expected host:port"):
        split_bind("localhost")
    assert split_bind("[::1]:80") == ("::1", 80)


def _served(monkeypatch, argv: list[str]) -> list[str]:
    """The command ``c3-render api ...`` would exec (the exec is caught)."""
    calls = []
    monkeypatch.setattr(cli.os, "execv", lambda path, args: calls.append(args))
    assert cli.main(argv) == 0
    return calls[0]


def test_the_cli_takes_the_server_settings_from_the_environment_and_flags_win(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    monkeypatch.setenv("C3_RENDER_ALLOW_OPEN", "true")
    monkeypatch.setenv("API_SERVER", "gunicorn")
    monkeypatch.setenv("API_THREADS", "32")
    monkeypatch.setenv("API_ACCESS_LOG", "true")
    argv = _served(monkeypatch, ["api"])
    assert argv[1:3] == ["-m", "gunicorn"] and _value(argv, "--threads") == "32" and "--access-logfile" in argv
    argv = _served(monkeypatch, ["api", "--server", "granian", "--no-access-log", "--threads", "8"])
    assert argv[1:3] == ["-m", "granian"] and _value(argv, "--blocking-threads") == "8"
    assert "--no-access-log" in argv
    monkeypatch.delenv("API_SERVER")
    monkeypatch.delenv("API_ACCESS_LOG")
    argv = _served(monkeypatch, ["api"])
    assert argv[1:3] == ["-m", "granian"] and "--no-access-log" in argv  # the defaults
