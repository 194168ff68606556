# lossbarcode: every figure and table of the Loss Barcode paper (and paper 004's index-1 barcodes).
#   snakemake --profile profiles/quick          toy scale, offline, on a laptop CPU
#   snakemake --cores all --resources gpu=4     paper scale (config/config.yaml, the default);
#                                               each GPU job leases its own device
#   snakemake --profile profiles/gpu            the same, with retries (checkpoints resume)
#   snakemake --profile profiles/slurm          the same on a SLURM cluster
#   snakemake --profile profiles/quick --report report.html
#                                               one page with every figure and table of a finished run
from snakemake.utils import min_version

from lossbarcode.config import analytic_experiments, check, load_yaml

min_version("9.0")

# A --configfile (as in the quick profile) replaces the paper configuration instead of being
# merged into it, so the two scales never mix. The analytic experiments are the same at both; a
# configuration chooses which of them it runs (analytic_experiments: all, none or their names).
# Files loaded here are read once by load_yaml first, whose syntax errors name the line.
if not workflow.config_settings.configfiles:
    load_yaml("config/config.yaml")

    configfile: "config/config.yaml"


load_yaml("config/toy.yaml")


configfile: "config/toy.yaml"


# Every configuration that would fail inside a job fails here, before any job runs, with all its
# problems. A cluster job reads this file again; the process that submitted it checked the config.
if workflow.is_main_process:
    check(config, "config/schema.yaml")
config["toy"] = analytic_experiments(config)


# snakemake --report report.html: every figure and table with its caption (report/captions/), the
# fidelity table and the configuration, behind this front page.
report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/minima.smk"
include: "rules/curves.smk"
include: "rules/triangles.smk"
include: "rules/barcodes.smk"
include: "rules/toy.smk"
include: "rules/figures.smk"
include: "rules/claims.smk"
include: "rules/report.smk"


onstart:
    # Jobs fork from one process that has torch imported (lossbarcode.warm), if the config says so.
    if config.get("warm_start"):
        start_warm_server()


rule all:
    default_target: True
    input:
        all_targets(),
