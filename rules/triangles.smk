# One optimized triangle per triple of minima (paper 004).


rule fit_triangle:
    input:
        data=dataset_file,
        vertices=minimum_files("a", "b", "c"),
        curves=[f"{RUN}/curves/{{a}}-{{b}}.pt", f"{RUN}/curves/{{a}}-{{c}}.pt", f"{RUN}/curves/{{b}}-{{c}}.pt"],
    output:
        multiext(f"{RUN}/triangles/{{a}}-{{b}}-{{c}}", ".pt", ".json"),
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{LOGS}/triangles/{{a}}-{{b}}-{{c}}.log",
    benchmark:
        f"{LOGS}/triangles/{{a}}-{{b}}-{{c}}.benchmark.tsv"
    params:
        spec=stage_spec("triangle"),
        out=output_prefix,
    threads: 1
    retries: 2  # a preempted job resumes from its checkpoint
    resources:
        gpu=1,
        mem_mb=section_resources("triangle", "mem_mb", 8000),
        jobs_per_gpu=section_resources("triangle", "jobs_per_gpu", 1),
        runtime=section_resources("triangle", "runtime", 480),
    shell:
        "lossbarcode fit-triangle --spec {params.spec:q} --data {input.data:q} --vertices {input.vertices:q}"
        " --curves {input.curves:q} --out {params.out:q} --threads {threads} {JOB_SETTINGS}"
        " --jobs-per-gpu {resources.jobs_per_gpu} 2> {log:q}"
