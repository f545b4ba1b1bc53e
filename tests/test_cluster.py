"""Running where a lab runs: on an existing Dask cluster (scheduler and two workers started as a lab
would, with the `dask` command) and as a scheduled deployment on a Prefect server."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from symdistill.catalogs import ArtifactStore
from symdistill.flows import environment

from conftest import TINY_SPRING

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def free_port() -> int:  # for the Prefect server, which cannot report a port it picked
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command, cwd, env=None, log=None):
    return subprocess.Popen([str(c) for c in command], cwd=cwd, env=env, start_new_session=True,
                            stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)


def stop(*processes):
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)


def symdistill(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "symdistill.flows.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=400)


def wait_for(check, timeout, what, log=lambda: ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; log:\n{log()}")


def test_search_runs_on_an_existing_dask_cluster_and_reruns_are_cached(tmp_path):
    info = tmp_path / "scheduler.json"  # the scheduler picks a free port and writes its address here
    log = open(tmp_path / "dask.log", "w")
    scheduler = start([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                       "--scheduler-file", info], tmp_path, log=log)
    workers = [start([BIN / "dask", "worker", "--scheduler-file", info, "--nthreads", "1", "--nworkers", "1",
                      "--no-dashboard"], tmp_path, log=log) for _ in range(2)]
    try:
        def dask_log():
            log.flush()
            return (tmp_path / "dask.log").read_text()[-3000:]

        address = wait_for(lambda: info.is_file() and json.loads(info.read_text() or "{}").get("address"), 180,
                           "the Dask scheduler", dask_log)
        client = wait_for(lambda: _client(address), 60, "a client connection", dask_log)
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 2, 180, "two Dask workers", dask_log)
        config = tmp_path / "tiny.toml"
        config.write_text(TINY_SPRING.format(n_sims=6))
        first = symdistill("run", config, "--until", "search", "--scheduler", address, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "search: computed" in first.stdout
        ran = client.run_on_scheduler(lambda dask_scheduler: sorted(
            str(prefix) for prefix in dask_scheduler.task_prefixes))
        assert "evolve_island" in ran, ran  # the island steps ran on this cluster's workers
        again = symdistill("run", config, "--until", "search", "--scheduler", address, cwd=tmp_path)
        assert "0 stage(s) computed" in again.stdout and "search: cached" in again.stdout
        client.close()
    finally:
        stop(*workers, scheduler)
        log.close()


def _client(address):
    from distributed import Client
    try:
        return Client(address, timeout=2)
    except OSError:
        return None


def test_a_scheduled_deployment_on_a_prefect_server_runs_and_caches(tmp_path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    # without the quiet run loggers that in-process CLI calls of earlier tests left in this process's environment
    inherited = {k: v for k, v in os.environ.items() if k not in environment.SILENT_RUN_LOGGERS}
    env = {**inherited, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": api,
           "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    server_log = open(tmp_path / "server.log", "w")
    server = start([BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", port], tmp_path, env,
                   server_log)
    deploy_log = open(tmp_path / "deploy.log", "w")
    served = None
    try:
        wait_for(lambda: _get(f"{api}/health"), 180, "the Prefect server")
        config = tmp_path / "tiny.toml"
        config.write_text(TINY_SPRING.format(n_sims=6))
        served = start([sys.executable, "-m", "symdistill.flows.cli", "deploy", config, "--cron", "0 3 * * *",
                        "--store", tmp_path / "store.zarr", "--catalog", tmp_path / "catalog.sqlite"],
                       tmp_path, env, deploy_log)
        deployment = wait_for(lambda: _get(f"{api}/deployments/name/symdistill-discovery/tiny"), 120,
                              "the deployment to register")
        assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["0 3 * * *"]

        def run_once(parameters=None):
            replies = []

            def created():  # a busy server (the suite runs beside it) may answer 5xx once: ask again
                replies.append(httpx.post(f"{api}/deployments/{deployment['id']}/create_flow_run",
                                          json={"parameters": parameters} if parameters else {}))
                return replies[-1].is_success and replies[-1].json()
            run = wait_for(created, 120, "the flow run to be created", lambda: replies[-1].text[-3000:])
            return wait_for(lambda: _finished(api, run["id"]), 400, "the flow run"), run["id"]

        def why(run_id):
            return _server_log(api, run_id) + (tmp_path / "deploy.log").read_text()[-3000:]

        state, run_id = run_once()
        assert state == "COMPLETED", why(run_id)
        store = ArtifactStore(tmp_path / "store.zarr")
        stages = ("simulate", "split", "train_surrogate", "capture", "search", "compose", "refit", "validate_ood")
        finished = {stage: store.artifacts(stage) for stage in stages}
        assert all(len(records) == 1 for records in finished.values()), finished
        listed = symdistill("catalog", "list", "--json", "--catalog", tmp_path / "catalog.sqlite", cwd=tmp_path)
        assert any(e["kind"] == "composed" for e in json.loads(listed.stdout))
        state, run_id = run_once()
        assert state == "COMPLETED", why(run_id)  # a second scheduled run: every stage cached, nothing rewritten
        assert {stage: store.artifacts(stage) for stage in stages} == finished
        state, run_id = run_once({"config_path": str(tmp_path / "missing.toml")})
        assert state == "FAILED"

        def traceback_logged():  # in the server's run log, not only its state message (logs come in batches)
            log = _server_log(api, run_id).split("server log:")[1]
            return "Traceback" in log and log
        logged = wait_for(traceback_logged, 60, "the failed run's traceback in the server's log", lambda: why(run_id))
        assert "missing.toml: no such config file" in logged
    finally:
        stop(*([served] if served else []), server)
        server_log.close(), deploy_log.close()


def _get(url):
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _server_log(api, run_id) -> str:
    """A run's state message and its log lines, as the server recorded them."""
    state = httpx.get(f"{api}/flow_runs/{run_id}").json()["state"]
    logs = httpx.post(f"{api}/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200})
    lines = [entry["message"] for entry in logs.json()] if logs.is_success else [logs.text]
    return f"state message: {state.get('message')}\nserver log:\n" + "\n".join(lines)[-6000:] + "\n"


def _finished(api, run_id):
    state = httpx.get(f"{api}/flow_runs/{run_id}").json()["state"]["type"]
    return state if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None
