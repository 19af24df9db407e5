"""Airflow glue: assets, default arguments and the heavy-step task factory.

Imported only by DAG files and the Airflow plugin; the rest of the package never
imports Airflow.
"""
