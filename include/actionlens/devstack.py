"""`make up` / `make down`: Airflow UI locally on the embedded default.

Starts the embedded mongod and `airflow standalone` (api-server, scheduler,
dag-processor, triggerer) with state under var/airflow, and prints the login.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from actionlens.airflow_env import airflow_environment
from actionlens.settings import child_environment, get_settings
from actionlens.store.embedded import EmbeddedMongo


def up() -> int:
    settings = get_settings()
    uri = (
        settings.mongo_uri
        or EmbeddedMongo(settings.home / "mongo", mongod_bin=settings.mongod_bin).start()
    )
    home = settings.home / "airflow"
    env = child_environment(airflow_environment(home), {"ACTIONLENS_MONGO_URI": uri})
    # `airflow standalone` starts its components as `airflow …` from PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "simple_auth_manager_passwords.json.generated"
    if not passwords.exists():  # a known local login instead of a generated one
        passwords.write_text(json.dumps({"admin": "admin"}))
    login = json.loads(passwords.read_text()).get("admin", "?")
    env["AIRFLOW__API__PORT"] = env.get("AIRFLOW__API__PORT", "8080")
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"MongoDB:    {uri}")
    print(f"Airflow UI: http://127.0.0.1:{env['AIRFLOW__API__PORT']}  login: admin / {login}")
    print("Stop with Ctrl-C, then `make down` to stop MongoDB.", flush=True)
    return subprocess.call([sys.executable, "-m", "airflow", "standalone"], env=env)


def down() -> int:
    settings = get_settings()
    stopped = EmbeddedMongo(settings.home / "mongo").stop()
    print("embedded mongod stopped" if stopped else "embedded mongod was not running")
    return 0


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "up"
    raise SystemExit({"up": up, "down": down}[action]())
