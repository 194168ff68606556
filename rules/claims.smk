# One job checks the papers' findings on every barcode they are about: claims.csv, claims.md and the
# report's page, claims.html.

CLAIMS = "the papers' findings"


localrules:
    claims,


rule claims:
    input:
        claim_inputs,
    output:
        f"{FIGURES}/claims.csv",
        f"{FIGURES}/claims.md",
        reported(f"{FIGURES}/claims.html", "claims", category=CLAIMS, title="Claims: the papers' findings, checked"),
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
