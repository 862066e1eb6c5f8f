"""The services the platform runs on, started (or found) on loopback: Redis, Label Studio,
PostgreSQL, and our own web and worker processes."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from ops import procs
from ops.procs import ROOT, RUN

VENV_PY = ROOT / ".venv" / "bin" / "python"
LS_BIN = ROOT / ".venv-ls" / "bin" / "label-studio"
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": os.environ.get("HOME", "/root")}


def apt_install(*packages: str) -> None:
    """Install Debian packages (as root, non-interactive); say clearly when that is impossible."""
    if os.geteuid() != 0:
        raise RuntimeError(f"need Debian packages {packages}: run as root, or install them first")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], check=True, env=env)


def start_redis(name: str, port: int) -> str:
    """Our own Redis on `port` (installing Debian's redis-server if absent); return its URL."""
    url = f"redis://127.0.0.1:{port}/0"
    if procs.running_pid(name) and procs.port_open(port):
        return url
    if procs.port_open(port):
        raise RuntimeError(f"port {port} is taken by a process we did not start; set REDIS_URL or free it")
    if shutil.which("redis-server") is None:
        apt_install("redis-server")
    data = RUN / name
    data.mkdir(parents=True, exist_ok=True)
    pid = procs.start(name, ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
                             "--save", "60 1000", "--appendonly", "yes", "--protected-mode", "yes"], BASE_ENV)
    procs.wait_until(lambda: procs.port_open(port), "redis", 20, pid, name)
    return url


def _ls_health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return b"UP" in reply.read()
    except OSError:
        return False


def start_label_studio(name: str, port: int, data_dir: Path, secrets: dict[str, str]) -> str:
    """Our Label Studio server on `port` with its own data dir; return its URL."""
    url = f"http://127.0.0.1:{port}"
    if procs.running_pid(name) and _ls_health(port):
        return url
    if procs.port_open(port):  # Label Studio would silently move to port+1
        raise RuntimeError(f"port {port} is taken by a process we did not start; free it or pick another")
    if not LS_BIN.exists():
        raise RuntimeError(f"{LS_BIN} is missing: run bin/setup")
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**BASE_ENV, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "DJANGO_DB": "sqlite",
           "LABEL_STUDIO_USERNAME": "admin@qianling.local",
           "LABEL_STUDIO_PASSWORD": secrets["LABEL_STUDIO_PASSWORD"],
           "LABEL_STUDIO_USER_TOKEN": secrets["LABEL_STUDIO_TOKEN"],
           "SECRET_KEY": secrets["LABEL_STUDIO_SECRET_KEY"],
           "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true", "LATEST_VERSION_CHECK": "false",
           "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""}
    pid = procs.start(name, [str(LS_BIN), "start", "--no-browser", "--internal-host", "127.0.0.1",
                             "--port", str(port), "--enable-legacy-api-token"], env)
    procs.wait_until(lambda: _ls_health(port), "Label Studio", 180, pid, name)
    return url


def ensure_postgres(secrets: dict[str, str], database: str) -> str:
    """A fresh, empty PostgreSQL database for the tests; start or install a server if none runs."""
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    if not procs.port_open(5432):
        if shutil.which("pg_ctlcluster") is None:
            apt_install("postgresql")
        versions = sorted(Path("/etc/postgresql").iterdir())
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main", "start"],
                       check=False)
        procs.wait_until(lambda: procs.port_open(5432), "PostgreSQL", 60)
    password = secrets["QIANLING_PG_PASSWORD"]
    sql = (f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='qianling') THEN "
           f"CREATE ROLE qianling LOGIN CREATEDB PASSWORD '{password}'; ELSE "
           f"ALTER ROLE qianling LOGIN CREATEDB PASSWORD '{password}'; END IF; END$$;")
    psql_as_postgres(sql)
    psql_as_postgres(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    psql_as_postgres(f"CREATE DATABASE {database} OWNER qianling ENCODING 'UTF8' TEMPLATE template0")
    return f"postgresql+psycopg://qianling:{password}@127.0.0.1:5432/{database}"


def psql_as_postgres(sql: str, database: str = "postgres") -> None:
    """Run SQL in `database` as the postgres superuser: over TCP where trusted, else through its
    Unix socket."""
    tcp = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                          "-qc", sql], capture_output=True, text=True, env={**BASE_ENV, "PGCONNECT_TIMEOUT": "5"},
                         stdin=subprocess.DEVNULL)
    if tcp.returncode == 0:
        return
    local = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-d", database, "-v", "ON_ERROR_STOP=1", "-qc", sql],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if local.returncode != 0:
        raise RuntimeError(f"PostgreSQL refused set-up SQL: {tcp.stderr.strip()} / {local.stderr.strip()}")


def app_env(values: dict[str, str]) -> dict[str, str]:
    """The environment our web and worker processes run with."""
    return {**BASE_ENV, "PYTHONPATH": str(ROOT), "FLASK_APP": "app", **values}


def start_web(name: str, port: int, env: dict[str, str], workers: int = 2, threads: int = 4) -> str:
    url = f"http://127.0.0.1:{port}"
    if procs.port_open(port) and not procs.running_pid(name):
        raise RuntimeError(f"port {port} is taken by a process we did not start")
    procs.stop(name)
    pid = procs.start(name, [str(VENV_PY), "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
                             "--bind", f"127.0.0.1:{port}", "--keep-alive", "30",  # idle clients reuse connections
                             "--graceful-timeout", "10",  # within procs.stop's 15 s before SIGKILL
                             # The app is imported once, before the port opens and the workers fork:
                             # else the first worker up takes every early keep-alive connection
                             # while the others still import (extensions reopens DB pools per pid).
                             "--preload",
                             "--access-logfile", "-", "--logger-class", "logs.GunicornLogger",
                             "app:create_app()"], env)
    procs.wait_until(lambda: procs.port_open(port), "web app", 60, pid, name)
    return url


def start_worker(name: str, env: dict[str, str]) -> int:
    procs.stop(name)
    pid = procs.start(name, [str(VENV_PY), "-m", "flask", "--app", "app", "worker", "--name",
                             f"{name}-{int(time.time())}"], env)
    time.sleep(1.0)
    if not procs.pid_alive(pid):
        procs.wait_until(lambda: False, "RQ worker", 0, pid, name)
    return pid


def flask(env: dict[str, str], *args: str) -> str:
    """Run a `flask` CLI command of ours; return its output, raising with it on failure."""
    done = subprocess.run([str(VENV_PY), "-m", "flask", "--app", "app", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout

