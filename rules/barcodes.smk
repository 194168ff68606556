# One barcode per model: H0 (graph and direct rules), TO-score, H1 and W_inf.


rule barcode:
    input:
        minima=lambda wc: [minimum_file(wc, seed, ".json") for seed in seeds(wc.experiment, wc.run)],
        curves=lambda wc: expand(f"{RUN}/curves/{{pair}}.json", pair=pairs(wc.experiment, wc.run), allow_missing=True),
        triangles=lambda wc: expand(f"{RUN}/triangles/{{triple}}.json", triple=triples(wc.experiment, wc.run), allow_missing=True),
    output:
        f"{RUN}/barcode.json",
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{LOGS}/barcode.log",
    benchmark:
        f"{LOGS}/barcode.benchmark.tsv"
    shell:
        "lossbarcode barcode --minima {input.minima:q} --curves {input.curves:q} --triangles {input.triangles:q}"
        " --out {output:q} 2> {log:q}"
