"""Airflow glue: what the DAG renders at run time (hooks) and a local Airflow for `make airflow`."""
