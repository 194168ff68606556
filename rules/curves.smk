# One optimized curve per pair of minima.


rule fit_curve:
    input:
        data=dataset_file,
        ends=minimum_files("a", "b"),
    output:
        multiext(f"{RUN}/curves/{{a}}-{{b}}", ".pt", ".json"),
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{LOGS}/curves/{{a}}-{{b}}.log",
    benchmark:
        f"{LOGS}/curves/{{a}}-{{b}}.benchmark.tsv"
    params:
        spec=stage_spec("curve"),
        out=output_prefix,
    threads: 1
    retries: 2  # a preempted job resumes from its checkpoint
    resources:
        gpu=1,
        mem_mb=section_resources("curve", "mem_mb", 8000),
        jobs_per_gpu=section_resources("curve", "jobs_per_gpu", 1),
        runtime=section_resources("curve", "runtime", 480),
    shell:
        "lossbarcode fit-curve --spec {params.spec:q} --data {input.data:q} --ends {input.ends:q}"
        " --out {params.out:q} --threads {threads} {JOB_SETTINGS}"
        " --jobs-per-gpu {resources.jobs_per_gpu} 2> {log:q}"
