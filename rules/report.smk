# What the report shows beside the figures and tables: how far this run follows the papers, and the
# configuration it ran with. Both are written in the workflow's own process (no job to start, no torch).
import hashlib

import yaml

from lossbarcode import pages

# The configuration this run resolved to: the config files and --config overrides, merged.
CONFIGURATION = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


localrules:
    fidelity,
    configuration,


rule fidelity:
    input:
        "docs/fidelity.csv",
    output:
        csv=f"{FIGURES}/fidelity.csv",
        html=reported(f"{FIGURES}/fidelity.html", "fidelity", category=ABOUT_THIS_RUN,
                      title="Fidelity: the papers' settings, ours, and what is assumed"),
    log:
        f"{FIGURES}/logs/fidelity.log",
    run:
        log_written(log[0], pages.fidelity(input[0], output.csv, output.html))


rule configuration:
    output:
        yaml=f"{FIGURES}/config.yaml",
        html=reported(f"{FIGURES}/config.html", "configuration", category=ABOUT_THIS_RUN,
                      title="Configuration of this run"),
    params:
        # Its digest as a param: Snakemake reruns this job whenever the configuration changes.
        digest=hashlib.sha256(CONFIGURATION.encode()).hexdigest()[:16],
    log:
        f"{FIGURES}/logs/configuration.log",
    run:
        log_written(log[0], pages.configuration(CONFIGURATION, config["scale"], output.yaml, output.html))
