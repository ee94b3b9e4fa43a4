"""docker-compose.yml, the Dockerfiles and the PostgreSQL init script, checked without Docker.

Docker cannot run on the development and CI machines, so these tests hold the deployment
files to what the services need: every service is built from the one Dockerfile with its own
build arguments (the tests resolve them as Docker would), runs as replicas that offer their port
on the compose network only (nginx publishes the gateway's, with deploy/nginx's template),
reaches its own database on the postgres service, starts after its one-shot migration and what it
depends on turns healthy, and its image holds every package its code imports.
When the `docker-compose` binary is on PATH (Debian's package), `docker-compose config -q`
validates the file against the Compose schema as well.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "init-databases.sh"

# compose service name -> (folder, module, port, database URL variable)
SERVICES = {
    "gateway": ("gateway", "gateway", 8000, "SIMPUL_GATEWAY_DATABASE_URL"),
    "catalog": ("service-catalog", "catalog", 8001, "SIMPUL_CATALOG_DATABASE_URL"),
    "submissions": ("submissions", "submissions", 8002, "SIMPUL_SUBMISSIONS_DATABASE_URL"),
    "signatures": ("signatures", "signatures", 8003, "SIMPUL_SIGNATURES_DATABASE_URL"),
    "notifications": ("notifications", "notifications", 8004, "SIMPUL_NOTIFICATIONS_DATABASE_URL"),
}
PORT_VARIABLES = {
    "gateway": "SIMPUL_GATEWAY_PORT",
    "catalog": "SIMPUL_CATALOG_PORT",
    "submissions": "SIMPUL_SUBMISSIONS_PORT",
    "signatures": "SIMPUL_SIGNATURES_PORT",
    "notifications": "SIMPUL_NOTIFICATIONS_PORT",
}
URL_VARIABLES = {
    "SIMPUL_GATEWAY_URL": "gateway",
    "SIMPUL_CATALOG_URL": "catalog",
    "SIMPUL_SUBMISSIONS_URL": "submissions",
    "SIMPUL_SIGNATURES_URL": "signatures",
    "SIMPUL_NOTIFICATIONS_URL": "notifications",
}
service_names = pytest.mark.parametrize("name", sorted(SERVICES))


# --- helpers -----------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value, environ: dict[str, str] | None = None):
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`, with an empty environment
    by default: what a fresh checkout gets from `docker compose up`."""
    environ = environ or {}
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3)
        current = environ.get(name)
        if operator in (":-", "-"):
            unset = current is None or (operator == ":-" and current == "")
            return argument if unset else current
        if operator in (":?", "?"):
            assert current, f"${{{name}}} is required by the compose file and has no default"
            return current
        return current or ""

    return _VARIABLE.sub(replace, value)


@cache
def compose() -> dict:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict) and isinstance(document.get("services"), dict)
    return document


def service(name: str) -> dict:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def environment(name: str) -> dict[str, str | None]:
    raw = service(name).get("environment")
    assert raw, f"{name}: no environment"
    if isinstance(raw, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in raw)
        raw = dict(pairs)
    return {key: (None if value is None else str(interpolate(value))) for key, value in raw.items()}


def depends_on(name: str) -> dict[str, dict]:
    raw = service(name).get("depends_on") or {}
    if isinstance(raw, list):
        return {dependency: {} for dependency in raw}
    return raw


def exposed_container_ports(name: str) -> set[int]:
    """The ports a service's containers offer on the compose network (`expose`)."""
    return {int(str(entry).split("/")[0]) for entry in service(name).get("expose") or []}


def dockerfile_path(name: str) -> Path:
    build = service(name).get("build")
    assert isinstance(build, dict), f"{name}: build must name a context and a dockerfile"
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    return context / build["dockerfile"]


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return instructions


def build_args(name: str) -> dict[str, str]:
    raw = service(name)["build"].get("args") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: str(interpolate(value)) for key, value in raw.items()}


_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def substitute(text: str, variables: dict[str, str]) -> str:
    """`$NAME` and `${NAME...}` replaced where NAME is known; the rest left as written."""

    def replace(match: re.Match) -> str:
        value = variables.get(match.group(1) or match.group(2))
        return match.group(0) if value is None else value

    return _REFERENCE.sub(replace, text)


def env_pairs(arguments: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in shlex.split(arguments))


def resolved_instructions(name: str) -> list[tuple[str, str]]:
    """The Dockerfile as Docker reads it when building `name`: each stage's ARGs take the compose
    file's build arguments (or their defaults), and with the stage's ENV values they are substituted
    where Docker substitutes them, and in RUN, where the shell does. CMD and HEALTHCHECK stay as
    written: they run in the container, which has the image's ENV and no build arguments."""
    given = build_args(name)
    global_defaults: dict[str, str] = {}
    variables: dict[str, str] = {}
    in_stage = False
    resolved = []
    for keyword, arguments in dockerfile_instructions(dockerfile_path(name)):
        if keyword == "FROM":
            in_stage = True
            variables = {}
            arguments = substitute(arguments, global_defaults)
        elif keyword == "ARG":
            variable, has_default, default = arguments.partition("=")
            if not in_stage:
                global_defaults[variable] = given.get(variable, default)
            elif variable in given:
                variables[variable] = given[variable]
            elif has_default or variable in global_defaults:
                variables[variable] = default if has_default else global_defaults[variable]
        elif keyword not in ("CMD", "HEALTHCHECK", "ENTRYPOINT"):
            arguments = substitute(arguments, variables)
            if keyword == "ENV":
                variables.update(env_pairs(arguments))
        resolved.append((keyword, arguments))
    return resolved


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "no FROM"
    return instructions[starts[-1]:]


def init_script_databases() -> dict[str, str]:
    """Database name -> the environment variable holding its role's password."""
    found = dict(re.findall(r'^create_service_database\s+(\w+)\s+"\$\{(\w+):\?\}"\s*$', INIT_SCRIPT.read_text(), re.M))
    assert found, "deploy/postgres/init-databases.sh creates no database"
    return found


# --- the compose file --------------------------------------------------------------------


def test_compose_file_has_the_five_services_and_the_infrastructure():
    names = set(compose()["services"])
    assert set(SERVICES) <= names
    assert {"postgres", "rabbitmq"} <= names


@service_names
def test_each_service_builds_from_the_one_dockerfile_with_the_root_as_context_and_its_own_arguments(name):
    build = service(name)["build"]
    assert (COMPOSE_FILE.parent / build["context"]).resolve() == ROOT, "the context must be the repository root"
    assert dockerfile_path(name) == DOCKERFILE and DOCKERFILE.is_file()
    folder, module, port, _ = SERVICES[name]
    assert build_args(name) == {
        "SERVICE_DIR": folder,
        "SERVICE_MODULE": module,
        "SERVICE_PORT": str(port),
        "SERVICE_PORT_VARIABLE": PORT_VARIABLES[name],
    }
    assert not (ROOT / folder / "Dockerfile").exists(), "one Dockerfile for all services, at the root"


def test_the_dockerfile_needs_every_build_argument_compose_passes_and_no_other():
    declared_without_default = {
        arguments for keyword, arguments in dockerfile_instructions(DOCKERFILE) if keyword == "ARG" and "=" not in arguments
    }
    for name in SERVICES:
        assert set(build_args(name)) == declared_without_default, name


@service_names
def test_each_service_runs_replicated_and_offers_its_port_only_inside(name):
    """Two replicas cannot share a fixed host port: only nginx publishes one."""
    assert service(name).get("deploy", {}).get("replicas", 1) >= 2
    assert SERVICES[name][2] in exposed_container_ports(name)
    assert not service(name).get("ports"), f"{name}: a replicated service publishes no host port"
    assert environment(name).get("SIMPUL_MIGRATE_ON_START") == "0", "replicas leave migrating to <service>-migrate"


@service_names
def test_each_service_waits_for_its_one_shot_migration(name):
    migrate = service(f"{name}-migrate")
    assert migrate["build"] == service(name)["build"] and migrate["image"] == service(name)["image"]
    assert migrate["command"] == ["python", "-m", f"simpul.{SERVICES[name][1]}", "migrate"]
    assert migrate.get("restart") == "no" and "deploy" not in migrate
    assert migrate["volumes"] == service(name)["volumes"], "what a migration writes, the replicas read"
    database = SERVICES[name][3]
    assert environment(f"{name}-migrate")[database] == environment(name)[database]
    assert depends_on(f"{name}-migrate") == {"postgres": {"condition": "service_healthy"}}
    assert depends_on(name)[f"{name}-migrate"] == {"condition": "service_completed_successfully"}


def test_nginx_publishes_the_gateway_replicas_with_the_shared_template():
    nginx = service("nginx")
    assert str(nginx["image"]).startswith("nginx:1.28"), "`resolve` in an upstream needs nginx 1.27.3 or later"
    env = environment("nginx")
    assert published_ports("nginx") == {int(env["SIMPUL_NGINX_PORT"]): SERVICES["gateway"][2]}
    mounts = [str(volume).split(":") for volume in nginx["volumes"]]
    template = ROOT / "deploy" / "nginx" / "simpul.conf.template"
    assert [[str((ROOT / source).resolve()), target] for source, target, *_ in mounts] == [
        [str(template), "/etc/nginx/templates/simpul.conf.template"]
    ]
    # The image's entrypoint substitutes the variables it has: the template needs no other.
    assert set(re.findall(r"\$\{(\w+)\}", template.read_text())) == {key for key in env if key.startswith("SIMPUL_")}
    servers = env["SIMPUL_GATEWAY_SERVERS"]
    assert f"server gateway:{SERVICES['gateway'][2]} resolve" in servers and "resolver 127.0.0.11" in servers
    assert depends_on("nginx") == {"gateway": {"condition": "service_healthy"}}


def published_ports(name: str) -> dict[int, int]:
    """Host port -> container port."""
    published = {}
    for entry in service(name).get("ports") or []:
        host, container = str(interpolate(entry)).split("/")[0].rsplit(":", 2)[-2:]
        published[int(host)] = int(container)
    return published


@service_names
def test_each_service_reaches_its_own_database_on_the_postgres_service(name):
    env = environment(name)
    variable = SERVICES[name][3]
    url = env.get(variable)
    assert url, f"{name}: {variable} is not set"
    parts = urlsplit(url)
    assert parts.scheme in ("postgresql", "postgresql+asyncpg"), url
    assert parts.hostname == "postgres", f"{name}: the database must be the compose service 'postgres', not {parts.hostname}"
    database = parts.path.lstrip("/")
    databases = init_script_databases()
    assert database in databases, f"{name}: database {database!r} is not created by {INIT_SCRIPT.name}"
    # The role is the database's owner, and its password is the one the init script was given.
    assert parts.username == database
    postgres_env = environment("postgres")
    assert parts.password == postgres_env[databases[database]], f"{name}: password differs from the init script's"
    # No two services share a database.
    others = {environment(other)[SERVICES[other][3]] for other in SERVICES if other != name}
    assert url not in others


@service_names
def test_each_service_listens_on_all_interfaces_and_finds_the_others_by_service_name(name):
    env = environment(name)
    assert env.get("SIMPUL_HOST") == "0.0.0.0"
    assert env.get(PORT_VARIABLES[name]) == str(SERVICES[name][2])
    for variable, target in URL_VARIABLES.items():
        url = env.get(variable)
        assert url, f"{name}: {variable} is not set"
        parts = urlsplit(url)
        assert parts.hostname == target and parts.port == SERVICES[target][2], f"{name}: {variable}={url}"
    broker = urlsplit(env.get("SIMPUL_EVENT_BROKER") or "")
    assert broker.scheme == "amqp" and broker.hostname == "rabbitmq", env.get("SIMPUL_EVENT_BROKER")
    assert env.get("SIMPUL_PUBLIC_URL", "").startswith("http")


def test_the_services_share_one_internal_secret():
    secrets = {environment(name).get("SIMPUL_INTERNAL_SECRET") for name in SERVICES}
    assert len(secrets) == 1 and None not in secrets and "" not in secrets
    assert "${SIMPUL_INTERNAL_SECRET" in COMPOSE_FILE.read_text(), "the secret must be overridable from the environment"


def test_the_broker_credentials_match_rabbitmq():
    broker = urlsplit(environment("catalog")["SIMPUL_EVENT_BROKER"])
    rabbit = environment("rabbitmq")
    assert broker.username == rabbit.get("RABBITMQ_DEFAULT_USER", "guest")
    assert broker.password == rabbit.get("RABBITMQ_DEFAULT_PASS", "guest")


@service_names
def test_each_service_has_a_healthcheck_on_its_healthz(name):
    check = service(name).get("healthcheck")
    assert check and not check.get("disable"), f"{name}: no healthcheck"
    test = check["test"]
    command = " ".join(test) if isinstance(test, list) else test
    assert f"127.0.0.1:{SERVICES[name][2]}/healthz" in command
    assert "urllib" in command or "curl" not in command, "python:3.11-slim has no curl"


@service_names
def test_each_service_keeps_its_data_dir_in_a_volume(name):
    data_dir = environment(name).get("SIMPUL_DATA_DIR")
    assert data_dir
    targets = [str(volume).split(":")[1] for volume in service(name).get("volumes") or [] if ":" in str(volume)]
    assert data_dir in targets, f"{name}: {data_dir} is not a volume"
    assert service(name).get("restart") in ("unless-stopped", "always", "on-failure")


def test_dependencies_wait_for_healthy_services_and_have_no_cycle():
    services = compose()["services"]
    for name in services:
        for dependency, condition in depends_on(name).items():
            assert dependency in services, f"{name} depends on undefined {dependency}"
            if services[dependency].get("restart") == "no":  # a one-shot: done when it exits 0
                assert (condition or {}).get("condition") == "service_completed_successfully", f"{name} -> {dependency}"
                continue
            assert (condition or {}).get("condition") == "service_healthy", f"{name} -> {dependency}"
            assert services[dependency].get("healthcheck"), f"{name} waits for {dependency}, which has no healthcheck"
    for name in SERVICES:
        assert {"postgres", "rabbitmq"} <= set(depends_on(name)), f"{name} must wait for postgres and rabbitmq"
    # Depth-first search for a cycle.
    state: dict[str, str] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert state.get(node) != "open", f"dependency cycle: {' -> '.join((*path, node))}"
        if state.get(node) == "done":
            return
        state[node] = "open"
        for dependency in depends_on(node):
            visit(dependency, (*path, node))
        state[node] = "done"

    for name in services:
        visit(name, ())


def test_the_gateway_replicas_share_redis():
    redis = urlsplit(environment("gateway")["SIMPUL_REDIS_URL"])
    assert (redis.scheme, redis.hostname, redis.port) == ("redis", "redis", 6379)
    assert str(service("redis")["image"]).startswith("redis:7")
    assert "redis-cli" in service("redis")["healthcheck"]["test"]
    assert depends_on("gateway")["redis"] == {"condition": "service_healthy"}


def test_postgres_and_rabbitmq_have_health_checks():
    postgres = service("postgres")
    assert str(postgres["image"]).startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    rabbitmq = service("rabbitmq")
    assert str(rabbitmq["image"]).startswith("rabbitmq:3-management")
    assert "rabbitmq-diagnostics" in " ".join(rabbitmq["healthcheck"]["test"])


def test_postgres_runs_the_init_script_with_every_password_it_needs():
    mounts = [str(volume) for volume in service("postgres")["volumes"]]
    init_mounts = [mount for mount in mounts if "/docker-entrypoint-initdb.d/" in mount]
    assert init_mounts, "the init script is not mounted into /docker-entrypoint-initdb.d"
    source = init_mounts[0].split(":")[0]
    assert (COMPOSE_FILE.parent / source).resolve() == INIT_SCRIPT
    assert INIT_SCRIPT.stat().st_mode & 0o111, "the init script must be executable"
    subprocess.run(["bash", "-n", str(INIT_SCRIPT)], check=True)
    postgres_env = environment("postgres")
    for database, variable in init_script_databases().items():
        assert postgres_env.get(variable), f"postgres has no {variable} for the {database} role"


def test_the_init_script_creates_every_database_the_services_use():
    used = {urlsplit(environment(name)[SERVICES[name][3]]).path.lstrip("/") for name in SERVICES}
    assert len(used) == len(SERVICES)
    assert used <= set(init_script_databases())


# --- the Dockerfiles ---------------------------------------------------------------------


@service_names
def test_each_image_runs_its_module_on_the_mapped_port_as_a_non_root_user(name, monkeypatch):
    folder, module, port, _ = SERVICES[name]
    instructions = resolved_instructions(name)
    assert any(keyword == "FROM" and "python:3.11-slim" in arguments for keyword, arguments in instructions)
    runtime = final_stage(instructions)
    image_env: dict[str, str] = {}
    for keyword, arguments in runtime:
        if keyword == "ENV":
            image_env.update(env_pairs(arguments))
    assert image_env.get("SIMPUL_HOST") == "0.0.0.0"
    assert image_env.get(PORT_VARIABLES[name]) == str(port)

    commands = [arguments for keyword, arguments in runtime if keyword == "CMD"]
    assert len(commands) == 1, "one CMD in the runtime stage"
    assert container_command(json.loads(commands[0]), image_env) == ["python", "-m", f"simpul.{module}"]
    assert (ROOT / folder / "src" / "simpul" / module / "__main__.py").is_file(), (
        f"simpul.{module} has no __main__"
    )

    exposed = {int(port_text.split("/")[0]) for keyword, arguments in runtime if keyword == "EXPOSE" for port_text in arguments.split()}
    assert exposed == {port}
    assert port in exposed_container_ports(name), "EXPOSE and the compose file differ"

    users = [arguments for keyword, arguments in runtime if keyword == "USER"]
    assert users, "runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")

    checks = [arguments for keyword, arguments in runtime if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    command = json.loads(checks[0][checks[0].index("CMD") + 3:].strip())
    assert command[:2] == ["python", "-c"]
    # The check, run with the image's environment, asks the service's /healthz on its port.
    opened = []
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: opened.append(url))
    for variable, value in image_env.items():
        monkeypatch.setenv(variable, value)
    exec(compile(command[2], "healthcheck", "exec"), {})
    assert opened == [f"http://127.0.0.1:{port}/healthz"]


def container_command(command: list[str], image_env: dict[str, str]) -> list[str]:
    """What the container runs: an exec-form CMD as is, `sh -c "exec ..."` with the image's
    environment substituted, as the shell would."""
    if command[:2] != ["sh", "-c"]:
        return command
    words = shlex.split(substitute(command[2], image_env))
    assert words[0] == "exec", "without exec the shell, not the service, gets the stop signal"
    return words[1:]


@service_names
def test_each_image_copies_only_what_exists_and_installs_shared_and_its_service(name):
    folder, module, _, _ = SERVICES[name]
    instructions = resolved_instructions(name)
    sources = []
    for keyword, arguments in instructions:
        if keyword == "COPY" and "--from=" not in arguments:
            sources += shlex.split(arguments)[:-1]
    assert {"requirements.txt", "shared/", f"{folder}/"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
        assert not ignored_by_dockerignore(source.rstrip("/")), f"COPY {source} is excluded by .dockerignore"
    runs = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert re.search(rf"pip install --constraint constraints\.txt \./shared \"?\./{re.escape(folder)}\b", runs)
    assert "pip check" in runs
    assert f"import simpul.{module}.app" in runs


def ignored_by_dockerignore(path: str) -> bool:
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern, pattern.removeprefix("**/")]
        if any(fnmatch.fnmatch(path, candidate) for candidate in candidates):
            ignored = not negate
    return ignored


# --- what each image installs --------------------------------------------------------------


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside `try: ... except ImportError` or `if TYPE_CHECKING:`: optional at run time."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                names = ast.unparse(handler.type) if handler.type else "BaseException"
                if "ImportError" in names or "ModuleNotFoundError" in names:
                    return True
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test) and child in parent.body:
            return True
        child, parent = parent, parents.get(parent)
    return False


def imported_distributions(folder: str) -> dict[str, set[str]]:
    """Third-party distribution -> files under <folder>/src that import it unconditionally."""
    module_owners = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder / "src").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            if _guarded(node, parents):
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("simpul", "__future__"):
                    continue
                owners = module_owners.get(top)
                assert owners, f"{path.relative_to(ROOT)} imports {top!r}, which no installed distribution provides"
                for owner in owners:
                    found.setdefault(canonicalize_name(owner), set()).add(str(path.relative_to(ROOT)))
    return found


def declared_closure(folder: str) -> set[str]:
    """Every distribution `pip install ./shared ./<folder>` brings in, from the declared dependencies."""
    local = {
        canonicalize_name(tomllib.loads((ROOT / name / "pyproject.toml").read_text())["project"]["name"]): name
        for name in ("shared", folder)
    }
    pending = [Requirement(f"{name}") for name in local]
    seen: set[tuple[str, frozenset[str]]] = set()
    closure: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        closure.add(name)
        if name in local:
            declared = tomllib.loads((ROOT / local[name] / "pyproject.toml").read_text())["project"].get("dependencies", [])
        else:
            try:
                declared = metadata.requires(name) or []
            except metadata.PackageNotFoundError:
                pytest.fail(f"{name} is declared by {folder} or shared but not installed in the dev venv")
        for text in declared:
            dependency = Requirement(text)
            if dependency.marker is not None:
                extras = requirement.extras or {""}
                if not any(dependency.marker.evaluate({"extra": extra}) for extra in extras | {""}):
                    continue
            pending.append(dependency)
    return closure


@service_names
def test_each_image_installs_every_package_its_code_imports(name):
    """The image installs shared/ and the service with their declared dependencies only (no
    `pip install -r requirements.txt`), so an import whose distribution is not declared in
    shared/pyproject.toml or the service's pyproject.toml would fail in the container."""
    folder = SERVICES[name][0]
    closure = declared_closure(folder)
    missing = {}
    for source in ("shared", folder):
        for distribution, files in imported_distributions(source).items():
            if distribution not in closure:
                missing[distribution] = sorted(files)[:3]
    assert not missing, (
        f"declare these in {folder}/pyproject.toml (or shared/pyproject.toml when shared imports them): {missing}"
    )


# --- the Compose schema --------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed (apt-get install docker-compose)")
def test_docker_compose_validates_the_file():
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    result = subprocess.run(
        ["docker-compose", "--file", str(COMPOSE_FILE), "--project-directory", str(ROOT), "config", "-q"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
