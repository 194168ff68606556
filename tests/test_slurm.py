"""The workflow on a real SLURM cluster: tests/slurm/one_node_slurm.sh brings up a one-node cluster on
this machine (installing slurm and munge with apt-get the first time), and a tiny configuration
runs through profiles/slurm and snakemake-executor-plugin-slurm. Every job but the localrules
(data, figure) must go through sbatch, GPU rules with --gpus=1, and the results must come back.

Runs only as root on Debian (it installs packages and starts daemons); set LOSSBARCODE_SKIP_SLURM
to skip it there too."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests/slurm/one_node_slurm.sh"
TINY = "tests/slurm/tiny.yaml"
RUN = "results/slurm_tiny/tiny_fcn/digits-fcn-2"
FIGURE = "figures/slurm_tiny/tiny_barcodes.png"
PREFIX = "lossbarcode_test"  # job names are PREFIX_<run uuid>: squeue tells our jobs apart
# Rules that run on the cluster, with their number of jobs in the tiny configuration: 3 minima,
# 3 curves, 1 triangle, 1 barcode. prepare_data and figure are localrules.
SLURM_JOBS = {"train_minimum": 3, "fit_curve": 3, "fit_triangle": 1, "barcode": 1}
GPU_RULES = {"train_minimum", "fit_curve", "fit_triangle"}


def why_skip() -> str | None:
    if os.environ.get("LOSSBARCODE_SKIP_SLURM"):
        return "LOSSBARCODE_SKIP_SLURM is set"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root: starts a one-node SLURM cluster (apt-get install slurm-wlm munge, daemons)"
    if not Path("/etc/debian_version").exists() or shutil.which("apt-get") is None:
        return "needs Debian with apt-get to install slurm-wlm and munge"
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and "one_node_slurm.sh" not in conf.read_text():
        return "/etc/slurm/slurm.conf belongs to a real cluster; the test cluster would replace it"
    return None


SKIP = why_skip()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(SKIP is not None, reason=str(SKIP))]


def cluster_is_up() -> bool:
    try:
        return "UP" in subprocess.run(["scontrol", "ping"], check=False, capture_output=True, text=True).stdout
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running one-node cluster; stopped afterwards unless it was already running."""
    was_up = cluster_is_up()
    start = subprocess.run(["bash", str(SCRIPT), "start"], check=False, capture_output=True, text=True, timeout=300)
    assert start.returncode == 0, f"one_node_slurm.sh failed:\n{start.stdout}\n{start.stderr}"
    yield
    if not was_up:
        subprocess.run(["bash", str(SCRIPT), "stop"], check=False, capture_output=True, text=True, timeout=120)


def scontrol_job(jobid: str) -> dict[str, str]:
    """`scontrol show job` as a dict (finished jobs stay visible for MinJobAge, 300 s)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", jobid], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


def test_tiny_workflow_runs_through_sbatch(slurm_cluster, tmp_path):
    work = (tmp_path / "workflow").resolve()
    work.mkdir()
    for item in ("Snakefile", "rules", "config", "envs", "profiles"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, work / item)
    (work / TINY).parent.mkdir(parents=True)
    shutil.copy(ROOT / TINY, work / TINY)

    command = [
        sys.executable, "-m", "snakemake", f"{RUN}/barcode.json", FIGURE,  # not the toy experiments
        "--profile", "profiles/slurm", "--configfile", TINY,
        # The test cluster has no accounting database, so `sacct` fails; the plugin must ask
        # squeue. It would switch back to sacct if MinJobAge were below 3 x the initial interval.
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "1",
        "--slurm-jobname-prefix", PREFIX,
        "--slurm-keep-successful-logs",
        # barcode declares no memory: the profile's 4 GB default may not fit a small test machine.
        "--set-resources", "barcode:mem_mb=1000",
        "--retries", "0",
        "--latency-wait", "5",
    ]
    # The jobs inherit this environment (sbatch --export=ALL): snakemake and lossbarcode on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.monotonic()
    result = subprocess.run(command, cwd=work, env=env, check=False, capture_output=True, text=True, timeout=400)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    print(f"workflow through SLURM: {time.monotonic() - started:.0f} s")

    # The results came back.
    barcode = json.loads((work / RUN / "barcode.json").read_text())
    assert len(barcode["h0"]) == 3 and len(barcode["edges"]) == 3 and len(barcode["triangles"]) == 1
    for record in (work / RUN).glob("**/*.json"):
        json.loads(record.read_text())
    assert (work / FIGURE).stat().st_size > 0

    # Every cluster job went through sbatch: the plugin logged its SLURM id...
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", log)
    assert len(submitted) == sum(SLURM_JOBS.values()), log
    run_id = re.search(r"SLURM run ID: (\S+)", log)[1]
    assert run_id.startswith(PREFIX)
    rules = Counter()
    for jobid, slurm_log in submitted:
        # ...SLURM ran it to completion under this run's name, with a GPU for the GPU rules...
        job = scontrol_job(jobid)
        assert job["JobName"] == run_id and job["JobState"] == "COMPLETED", job
        rule = re.match(r"rule_(\w+?)(_wildcards_|$)", job["Comment"])[1]
        rules[rule] += 1
        assert (job.get("TresPerJob") == "gres:gpu:1") == (rule in GPU_RULES), job
        # ...and its SLURM log holds the job-side snakemake's output.
        slurm_log = Path(slurm_log)
        assert slurm_log.is_relative_to(work / ".snakemake/slurm_logs"), slurm_log
        assert "Finished jobid" in slurm_log.read_text(), slurm_log.read_text()
    assert rules == SLURM_JOBS
    # The GPU jobs looked for a device to lease: SLURM's stand-in GPUs have no CUDA behind them.
    for job_log in (work / "results/slurm_tiny/logs/tiny_fcn/digits-fcn-2/minima").glob("*.log"):
        assert "no GPU visible: computing on the CPU" in job_log.read_text()
