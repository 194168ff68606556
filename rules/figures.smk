# One job per figure; which runs feed it and how it is drawn come from the config.


localrules:
    figure,


rule figure:
    input:
        figure_inputs,
    output:
        multiext(f"{FIGURES}/{{figure}}", ".png", ".pdf", ".csv"),
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{FIGURES}/logs/{{figure}}.log",
    benchmark:
        f"{FIGURES}/logs/{{figure}}.benchmark.tsv"
    params:
        kind=lambda wc: figure_spec(wc.figure)["kind"],
        title=lambda wc: figure_spec(wc.figure)["title"],
        runs=lambda wc: json.dumps(figure_runs(wc.figure)),
        out=output_prefix,
        scale=config["scale"],
    shell:
        "lossbarcode figure --kind {params.kind:q} --title {params.title:q} --scale {params.scale:q}"
        " --runs {params.runs:q} --out {params.out:q} 2> {log:q}"
