# Datasets: downloaded (or built from a stand-in) once, stored as tensors every job loads.


localrules:
    prepare_data,


rule prepare_data:
    output:
        f"{DATA}/{{dataset}}.pt",
    log:
        f"{DATA}/logs/{{dataset}}.log",
    benchmark:
        f"{DATA}/logs/{{dataset}}.benchmark.tsv"
    params:
        mirror=lambda wc: (
            f"--mirror {config['data_mirrors'][wc.dataset]}"
            if wc.dataset in config.get("data_mirrors", {})
            else ""
        ),
    shell:
        "lossbarcode prepare-data --dataset {wildcards.dataset} --root {DATA} {params.mirror} 2> {log}"
