# One job checks the papers' findings on every barcode they are about: claims.csv and claims.md.


localrules:
    claims,


rule claims:
    input:
        claim_inputs,
    output:
        multiext(f"{FIGURES}/claims", ".csv", ".md"),
    conda:
        "../envs/lossbarcode.yaml"
    log:
        f"{FIGURES}/logs/claims.log",
    benchmark:
        f"{FIGURES}/logs/claims.benchmark.tsv"
    params:
        claims=lambda wc: json.dumps(claim_specs(), sort_keys=True),
        out=output_prefix,
        scale=config["scale"],
    shell:
        "lossbarcode claims --claims {params.claims:q} --scale {params.scale:q} --out {params.out:q} 2> {log:q}"
