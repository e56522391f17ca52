"""What the Airflow DAGs are built from: the trigger form's Params, the assets, and the
task builders for dbt (cosmos) and Spark (spark-submit). Depends on usersegments and
ml; the DAG files in dags/ depend on it, and nothing else does."""
