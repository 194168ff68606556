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
    shell:
        "lossbarcode prepare-data --dataset {wildcards.dataset:q} --root {params.root:q} --mirrors {MIRRORS:q}"
        " 2> {log:q}"
