# Analytic experiments: one job each, seconds on a CPU.


rule toy:
    output:
        f"{RESULTS}/toy/{{name}}.json",
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{RESULTS}/logs/toy/{{name}}.log",
    benchmark:
        f"{RESULTS}/logs/toy/{{name}}.benchmark.tsv"
    params:
        run=lambda wc: TOY[wc.name]["run"],
        settings=lambda wc: json.dumps(TOY[wc.name].get("params", {})),
    shell:
        "lossbarcode toy --experiment {params.run:q} --params {params.settings:q} --out {output:q} 2> {log:q}"
