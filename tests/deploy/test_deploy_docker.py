"""Dockerfile and docker-compose.yml, checked without a Docker engine.

The Dockerfile's COPY sources must exist and survive Dockerfile.dockerignore, its
stages must give a slim default and an `engines` target, both non-root; the
compose file must offer what the original service did (API :5000, Redis, worker,
optional MinIO), publish the API only and ship no secret: every credential is required.
"""

from __future__ import annotations

import configparser
import re
import shlex

from render_core.worker.middleware.shutdown import dramatiq_shutdown_timeout

from deploy_support import DEPLOY_DIR, REPO_ROOT

DOCKER_DIR = DEPLOY_DIR / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
DOCKERIGNORE = DOCKER_DIR / "Dockerfile.dockerignore"
COMPOSE_FILE = DOCKER_DIR / "docker-compose.yml"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages(text: str) -> dict[str, list[tuple[str, str]]]:
    """Instructions per build stage, in order (keys are the stage names)."""
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    for keyword, args in instructions(text):
        if keyword == "FROM":
            current = args.split()[-1] if " AS " in args.upper() else f"stage{len(result)}"
            result[current] = []
        elif current is not None:
            result[current].append((keyword, args))
    return result


def ignore_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regex over paths relative to the context root."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + "(/.*)?")


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern decides; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if ignore_regex(pattern.lstrip("!").strip("/")).fullmatch(path):
            ignored = not negate
    return ignored


def ignore_patterns() -> list[str]:
    return [l.strip() for l in DOCKERIGNORE.read_text().splitlines() if l.strip() and not l.startswith("#")]


def copy_sources() -> list[str]:
    """Sources of every COPY from the build context (not --from another stage)."""
    sources = []
    for keyword, args in instructions(DOCKERFILE.read_text()):
        if keyword == "COPY" and "--from=" not in args:
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            sources += words[:-1]
    return sources


def test_copy_sources_exist_and_are_not_ignored():
    patterns = ignore_patterns()
    sources = copy_sources()
    assert {"setup.cfg", "pyproject.toml", "render_core", "render_api", "plugins"} <= set(sources)
    for source in sources:
        path = REPO_ROOT / source
        assert path.exists(), f"COPY {source}: no such file in the build context (repository root)"
        files = [path] if path.is_file() else [p for p in path.rglob("*.py")][:50]
        assert files, f"COPY {source}: nothing to copy"
        for file in files:
            relative = file.relative_to(REPO_ROOT).as_posix()
            assert not is_ignored(relative, patterns), f"{relative} is excluded by {DOCKERIGNORE.name}"


def test_dockerignore_keeps_local_clutter_out():
    patterns = ignore_patterns()
    for clutter in (".venv/bin/python", ".git/config", "plugins/csm/c3_render_csm.egg-info/PKG-INFO",
                    "render_core/__pycache__/x.pyc", "tests/unit/test_x.py"):
        assert is_ignored(clutter, patterns), clutter


def test_images_are_slim_non_root_with_an_engines_target():
    text = DOCKERFILE.read_text()
    by_stage = stages(text)
    assert list(by_stage)[-1] == "slim", "the default (last) stage must be the slim image"
    assert "engines" in by_stage
    for stage in ("slim", "engines"):
        users = [args for keyword, args in by_stage[stage] if keyword == "USER"]
        assert users and users[-1].split(":")[0] not in ("0", "root"), f"{stage} runs as root"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    engines_build = " ".join(args for keyword, args in by_stage["build-engines"] if keyword == "RUN")
    assert "[engines]" in engines_build
    slim_copies = [args for keyword, args in by_stage["slim"] if keyword == "COPY"]
    assert any("--from=build " in args + " " for args in slim_copies), "slim must not take the engines venv"


def test_entrypoint_is_the_console_script():
    instruction_args = dict(instructions(DOCKERFILE.read_text()))
    assert "c3-render" in instruction_args["ENTRYPOINT"]
    assert instruction_args["CMD"] == '["api"]'
    setup = configparser.ConfigParser()
    setup.read(REPO_ROOT / "setup.cfg")
    scripts = setup["options.entry_points"]["console_scripts"]
    assert re.search(r"^\s*c3-render\s*=", scripts, re.M), "setup.cfg must define the c3-render console script"


def test_compose_matches_the_original_services():
    import yaml

    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services = compose["services"]
    assert {"api", "worker", "redis", "minio"} <= set(services)
    assert services["api"]["ports"] == ["5000:5000"]
    assert services["api"]["command"] == ["api"]
    assert services["worker"]["command"] == ["worker"]
    assert services["minio"]["profiles"] == ["minio"], "MinIO is optional"
    command = " ".join(services["redis"]["command"]).split()
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] in ("everysec", "always")
    for name in ("api", "worker"):
        build = services[name]["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE.resolve()
        assert build["target"] in stages(DOCKERFILE.read_text())
        assert "@redis:6379/" in services[name]["environment"]["REDIS_URL"]
    grace = int(services["worker"]["stop_grace_period"].rstrip("s"))
    drain = float(services["worker"]["environment"]["WORKER_SHUTDOWN_TIMEOUT"].split(":-")[1].rstrip("}"))
    assert grace >= dramatiq_shutdown_timeout(drain), "docker would SIGKILL before running jobs are requeued"
    assert "C3_API_KEY" not in services["api"]["environment"], "the API gets no GPU provider key"
    assert "C3_API_KEY" in services["worker"]["environment"]


#: Variables holding secrets: compose must refuse to start without them (``${NAME:?message}``).
SECRETS = {"C3_RENDER_API_KEY", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_ROOT_USER",
           "MINIO_ROOT_PASSWORD", "REDIS_PASSWORD"}
REQUIRED = re.compile(r"\$\{(?P<name>[A-Z0-9_]+):\?[^}]+\}")


def test_compose_publishes_only_the_api():
    import yaml

    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"api"}, f"only the API may publish a port, not {sorted(published - {'api'})}"
    assert all("network_mode" not in service for service in services.values()), "host networking publishes all"


def test_compose_ships_no_secret_and_requires_real_ones():
    import yaml

    text = COMPOSE_FILE.read_text()
    services = yaml.safe_load(text)["services"]
    for name, service in services.items():
        for variable, value in (service.get("environment") or {}).items():
            if variable in SECRETS:
                match = REQUIRED.fullmatch(str(value))
                assert match, f"{name}: {variable}={value!r} must be ${{VAR:?message}} (required, no default)"
    assert "minioadmin" not in text.lower(), "a well-known default credential is shipped"
    assert not re.search(r"\$\{[A-Z0-9_]*(KEY|SECRET|PASSWORD|USER)[A-Z0-9_]*:-[^}]", text), \
        "a credential variable has a default value"
    api = services["api"]["environment"]
    assert "C3_RENDER_ALLOW_OPEN" not in api, "the API must not be opened by the compose file"
    assert "$${REDIS_PASSWORD}" not in " ".join(services["redis"]["command"])
    assert "requirepass" in " ".join(services["redis"]["command"]), "Redis must require its password"
    assert {m["name"] for m in REQUIRED.finditer(api["REDIS_URL"])} == {"REDIS_PASSWORD"}
