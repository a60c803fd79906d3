#!/usr/bin/env bash
# Write .env from .env.example with fresh random secrets (refuses to overwrite an existing .env).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -e .env ]]; then
    echo "make-env: .env exists; remove it first to regenerate" >&2
    exit 1
fi
rand() { head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'; }
fernet() { head -c 32 /dev/urandom | base64 | tr -d '\n' | tr '+/' '-_'; }
sed -e "s|^AWS_ACCESS_KEY_ID=.*|AWS_ACCESS_KEY_ID=brewlake-$(rand 9)|" \
    -e "s|^AWS_SECRET_ACCESS_KEY=.*|AWS_SECRET_ACCESS_KEY=$(rand 30)|" \
    -e "s|^AIRFLOW_ADMIN_PASSWORD=.*|AIRFLOW_ADMIN_PASSWORD=$(rand 12)|" \
    -e "s|^AIRFLOW_DB_PASSWORD=.*|AIRFLOW_DB_PASSWORD=$(rand 18)|" \
    -e "s|^AIRFLOW_FERNET_KEY=.*|AIRFLOW_FERNET_KEY=$(fernet)|" \
    -e "s|^AIRFLOW_JWT_SECRET=.*|AIRFLOW_JWT_SECRET=$(rand 32)|" \
    -e "s|^AIRFLOW_API_SECRET_KEY=.*|AIRFLOW_API_SECRET_KEY=$(rand 32)|" \
    .env.example > .env
chmod 600 .env
echo "make-env: wrote .env (Airflow login: $(grep '^AIRFLOW_ADMIN_USERNAME=' .env | cut -d= -f2) /" \
     "password in .env)"
