#!/usr/bin/env bash
# The compose `airflow-init` one-shot: migrate Airflow's metadata database, then give Airflow 3's
# simple auth manager its admin. The user list comes from AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS;
# the manager reads passwords from a JSON file ({"user": "password"}) that it would otherwise fill
# with random ones; we write the one from .env so the login is known in advance.
set -euo pipefail
: "${AIRFLOW_ADMIN_USERNAME:?set AIRFLOW_ADMIN_USERNAME in .env}"
: "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD in .env}"

airflow db migrate

python - <<'PY'
import json
import os
from pathlib import Path

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

path = Path(SimpleAuthManager.get_generated_password_file())
path.parent.mkdir(parents=True, exist_ok=True)
tmp = path.with_suffix(".tmp")
tmp.write_text(json.dumps({os.environ["AIRFLOW_ADMIN_USERNAME"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}))
tmp.chmod(0o660)
tmp.replace(path)
print(f"airflow-init: admin user {os.environ['AIRFLOW_ADMIN_USERNAME']!r} written to {path}")
PY
