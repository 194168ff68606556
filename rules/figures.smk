# One job per figure and per table; which runs feed it and how it is drawn come from the config.


localrules:
    figure,
    table,


rule figure:
    input:
        figure_inputs,
    output:
        reported_output(f"{FIGURES}/{{figure}}.png", "figures"),
        f"{FIGURES}/{{figure}}.pdf",
        f"{FIGURES}/{{figure}}.csv",
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{FIGURES}/logs/{{figure}}.log",
    benchmark:
        f"{FIGURES}/logs/{{figure}}.benchmark.tsv"
    params:
        kind=lambda wc: output_spec(wc.figure)["kind"],
        title=lambda wc: output_spec(wc.figure)["title"],
        runs=lambda wc: json.dumps(figure_runs(wc.figure)),
        out=output_prefix,
        scale=config["scale"],
    shell:
        "lossbarcode figure --kind {params.kind:q} --title {params.title:q} --scale {params.scale:q}"
        " --runs {params.runs:q} --out {params.out:q} 2> {log:q}"


rule table:
    input:
        table_inputs,
    output:
        f"{FIGURES}/{{table}}.csv",
        f"{FIGURES}/{{table}}.md",
        reported_output(f"{FIGURES}/{{table}}.html", "tables"),
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{FIGURES}/logs/{{table}}.log",
    benchmark:
        f"{FIGURES}/logs/{{table}}.benchmark.tsv"
    params:
        kind=lambda wc: output_spec(wc.table, "tables")["kind"],
        title=lambda wc: output_spec(wc.table, "tables")["title"],
        runs=lambda wc: json.dumps(figure_runs(wc.table, "tables")),
        paper=lambda wc: json.dumps(output_spec(wc.table, "tables").get("paper", {}), sort_keys=True),
        out=output_prefix,
        scale=config["scale"],
    shell:
        "lossbarcode table --kind {params.kind:q} --title {params.title:q} --scale {params.scale:q}"
        " --runs {params.runs:q} --paper {params.paper:q} --out {params.out:q} 2> {log:q}"
