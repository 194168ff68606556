# One minimum per seed: trained, or a smaller network's minimum embedded (paper 002 §3.5).


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
        spec=stage_spec("minimum"),
        out=output_prefix,
    wildcard_constraints:
        experiment=alternatives(TRAINED),
    threads: 1
    retries: 2  # a preempted job resumes from its checkpoint
    resources:
        gpu=1,
        mem_mb=section_resources("minimum", "mem_mb", 8000),
        jobs_per_gpu=section_resources("minimum", "jobs_per_gpu", 1),
        runtime=section_resources("minimum", "runtime", 240),
    shell:
        "lossbarcode train-minimum --spec {params.spec:q} --data {input.data:q} --seed {wildcards.seed}"
        " --out {params.out:q} --threads {threads} {JOB_SETTINGS}"
        " --jobs-per-gpu {resources.jobs_per_gpu} 2> {log:q}"


rule embed_minimum:
    input:
        data=dataset_file,
        source=source_minimum,
    output:
        multiext(f"{RUN}/minima/{{seed}}", ".pt", ".json"),
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{LOGS}/minima/{{seed}}.log",
    benchmark:
        f"{LOGS}/minima/{{seed}}.benchmark.tsv"
    params:
        spec=stage_spec("minimum"),
        out=output_prefix,
    wildcard_constraints:
        experiment=alternatives(EMBEDDED),
    threads: 1
    retries: 2  # a preempted job resumes from its checkpoint
    resources:
        gpu=1,
        mem_mb=section_resources("minimum", "mem_mb", 8000),
        jobs_per_gpu=section_resources("minimum", "jobs_per_gpu", 1),
        runtime=section_resources("minimum", "runtime", 240),
    shell:
        "lossbarcode embed-minimum --spec {params.spec:q} --data {input.data:q} --source {input.source:q}"
        " --seed {wildcards.seed} --out {params.out:q} --threads {threads} {JOB_SETTINGS}"
        " --jobs-per-gpu {resources.jobs_per_gpu} 2> {log:q}"
