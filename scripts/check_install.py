"""Verify the installed stack: full pyspark (not only pyspark-client), a working spark-submit, the Celery executor."""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

expected = sys.argv[1]
import pyspark  # noqa: E402

if pyspark.__version__ != expected:
    sys.exit(
        f"error: pyspark {pyspark.__version__} is installed but constraints.txt pins {expected}; rerun `make install`."
    )
jars = pathlib.Path(pyspark.__file__).parent / "jars"
if not jars.is_dir() or not any(jars.glob("spark-core_*.jar")):
    sys.exit(f"error: {jars} holds no Spark jars (pyspark-client overwrote pyspark); reinstall pyspark=={expected}.")
submit = shutil.which("spark-submit", path=str(pathlib.Path(sys.executable).parent))
if submit is None:
    sys.exit("error: spark-submit is missing from the virtualenv's bin directory.")
# spark-submit finds SPARK_HOME through whichever python is first on PATH: point it at this venv.
env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
env["PATH"] = f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
out = subprocess.run([submit, "--version"], capture_output=True, text=True, timeout=120, env=env)
if out.returncode != 0 or expected not in out.stdout + out.stderr:
    sys.exit(f"error: `spark-submit --version` failed (exit {out.returncode}):\n{out.stderr[-2000:]}")
# A celery release the provider does not support kills every worker at start (an ImportError), not at install.
with tempfile.TemporaryDirectory(prefix="airflow-check-") as home:
    celery_check = subprocess.run(
        [sys.executable, "-c", "import airflow.providers.celery.executors.celery_executor_utils"],
        capture_output=True, text=True, timeout=300, env=dict(env, AIRFLOW_HOME=home),
    )
if celery_check.returncode != 0:
    sys.exit(f"error: the Airflow Celery executor does not import with this stack:\n{celery_check.stderr[-2000:]}")
print(f"stack ok: pyspark {pyspark.__version__}, spark-submit at {submit}")
