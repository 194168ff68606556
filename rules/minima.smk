# One trained minimum per seed.


rule train_minimum:
    input:
        data=dataset_file,
    output:
        multiext(f"{RUN}/minima/{{seed}}", ".pt", ".json"),
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{LOGS}/minima/{{seed}}.log",
    benchmark:
        f"{LOGS}/minima/{{seed}}.benchmark.tsv"
    params:
        spec=run_spec,
        out=output_prefix,
    threads: 1
    resources:
        gpu=1,
        mem_mb=section_resources("minimum", "mem_mb", 8000),
        runtime=section_resources("minimum", "runtime", 240),
    shell:
        "lossbarcode train-minimum --spec {params.spec:q} --data {input.data} --seed {wildcards.seed}"
        " --out {params.out} --threads {threads} 2> {log}"
