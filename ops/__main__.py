"""`python -m ops run|stop|test`: the platform and its test suite on one machine.

run   start Redis, Label Studio, migrations, demo accounts and data, the web app and a worker;
      print the URLs and logins; stay in the foreground until Ctrl-C (or use --detach + stop).
stop  stop every process `run` or `test` started (by their pidfiles), and nothing else.
test  start the services the integration tests need (PostgreSQL, Redis, Label Studio), run all
      tests (unit tests on SQLite, integration tests on the real services), stop what it started.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from ops import procs, services
from ops.procs import ROOT, RUN
from ops.secrets import load as load_secrets

WEB_PORT, LS_PORT, REDIS_PORT = 5080, 8480, 6479
TEST_LS_PORT, TEST_REDIS_PORT = 8481, 6481


def run(detach: bool) -> int:
    secrets = load_secrets()
    data_dir = ROOT / "var"
    redis_url = os.environ.get("REDIS_URL") or services.start_redis("redis", REDIS_PORT)
    ls_url = services.start_label_studio("labelstudio", LS_PORT, data_dir / "labelstudio", secrets)
    env = services.app_env({
        "QIANLING_SECRET_KEY": secrets["QIANLING_SECRET_KEY"], "QIANLING_DATA_DIR": str(data_dir),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'qianling.db'}",
        "REDIS_URL": redis_url, "LABEL_STUDIO_URL": ls_url, "LABEL_STUDIO_TOKEN": secrets["LABEL_STUDIO_TOKEN"],
        "QIANLING_DEMO_PASSWORD": secrets["QIANLING_DEMO_PASSWORD"]})
    services.flask(env, "db", "upgrade")
    services.flask(env, "demo", "users")
    web = services.start_web("web", WEB_PORT, env)
    services.start_worker("worker", env)
    marker = data_dir / ".demo-slice-done"
    if not marker.exists():
        print("running the demo slice (job → Label Studio → labels → QA → dataset → buyer)...", flush=True)
        print(services.flask(env, "demo", "slice", "--base-url", web), flush=True)
        print(services.flask(env, "demo", "open-jobs", "--base-url", web), flush=True)
        marker.touch()
    print(banner(web, ls_url, secrets), flush=True)
    if detach:
        return 0
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        while not stopping:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    print("stopped: " + ", ".join(procs.stop_all()))
    return 0


def banner(web: str, ls_url: str, secrets: dict[str, str]) -> str:
    return f"""
Qianling is running.
  Web app        {web}            (log in as below)
  Label Studio   {ls_url}            (admin@qianling.local / password in .run/secrets.env)
  Logs           {RUN / 'logs'}
Demo logins (password for all: {secrets['QIANLING_DEMO_PASSWORD']}):
  admin, manager, annotator1, annotator2, annotator3, reviewer, buyer
Stop with Ctrl-C, or bin/stop when started with --detach.
"""


def test(pytest_args: list[str]) -> int:
    secrets = load_secrets()
    try:
        env = {**os.environ,
               "QIANLING_IT_REDIS_URL": services.start_redis("test-redis", TEST_REDIS_PORT),
               "QIANLING_IT_LS_URL": services.start_label_studio("test-labelstudio", TEST_LS_PORT,
                                                                 RUN / "ls-test", secrets),
               "QIANLING_IT_LS_TOKEN": secrets["LABEL_STUDIO_TOKEN"],
               "QIANLING_IT_DATABASE_URL": services.ensure_postgres(secrets, "qianling_test"),
               "QIANLING_REQUIRE_INTEGRATION": "1", "PYTHONPATH": str(ROOT)}
        return subprocess.call([str(services.VENV_PY), "-m", "pytest", *pytest_args], cwd=ROOT, env=env,
                               stdin=subprocess.DEVNULL)
    finally:
        procs.stop_all("test-")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run")
    run_p.add_argument("--detach", action="store_true", help="return once everything is up")
    sub.add_parser("stop")
    sub.add_parser("secrets")
    test_p = sub.add_parser("test")
    test_p.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.detach)
    if args.command == "stop":
        print("stopped: " + (", ".join(procs.stop_all()) or "nothing was running"))
        return 0
    if args.command == "secrets":
        load_secrets()
        return 0
    return test(args.pytest_args or ["tests", "-q", "-ra"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
