#!/bin/sh
# MWAA startup script: the environment's `brewlake.*` Airflow configuration options (set by the
# orchestration stack, visible as AIRFLOW__BREWLAKE__<NAME>) become the BREWLAKE_<NAME> variables
# brewlake reads (alert topic, spark backend, ECS cluster/task/subnets).
for name in $(env | sed -n 's/^AIRFLOW__BREWLAKE__\([A-Z0-9_]*\)=.*/\1/p'); do
    eval "export BREWLAKE_${name}=\"\$AIRFLOW__BREWLAKE__${name}\""
done
