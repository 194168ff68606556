# Datasets: downloaded (or built from a stand-in) once, stored as tensors every job loads.


localrules:
    prepare_data,


rule prepare_data:
    output:
        f"{DATA}/{{dataset}}.pt",
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{DATA}/logs/{{dataset}}.log",
    benchmark:
        f"{DATA}/logs/{{dataset}}.benchmark.tsv"
    params:
        root=lambda wc, output: os.path.dirname(output[0]),
        mirror=lambda wc: (
            f"--mirror {config['data_mirrors'][wc.dataset]}"
            if wc.dataset in config.get("data_mirrors", {})
            else ""
        ),
    shell:
        "lossbarcode prepare-data --dataset {wildcards.dataset} --root {params.root} {params.mirror} 2> {log}"
