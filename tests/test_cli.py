import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lossbarcode import barcode
from lossbarcode.cli import main
from lossbarcode.io import read_json, write_json


def test_barcode_verb_reads_the_file_contracts(tmp_path):
    losses = {"s0": 0.1, "s1": 0.3, "s2": 0.2}
    for name, loss in losses.items():
        write_json(tmp_path / "minima" / f"{name}.json", {"train_loss": loss})
    maxima = {"s0-s1": 0.9, "s0-s2": 0.5, "s1-s2": 0.7}
    for name, top in maxima.items():
        write_json(tmp_path / "curves" / f"{name}.json", {"max": top, "t": [0.0, 0.5, 1.0], "train_loss": [0.1, top, 0.2]})
    write_json(tmp_path / "triangles" / "s0-s1-s2.json", {"side_max": [0.9, 0.5, 0.7], "max": 1.4})
    out = tmp_path / "barcode.json"
    main([
        "barcode", "--minima", *sorted(str(p) for p in (tmp_path / "minima").iterdir()),
        "--curves", *sorted(str(p) for p in (tmp_path / "curves").iterdir()),
        "--triangles", str(tmp_path / "triangles" / "s0-s1-s2.json"), "--out", str(out),
    ])
    result = read_json(out)
    expected = barcode.persistence([0.1, 0.3, 0.2], {(0, 1): 0.9, (0, 2): 0.5, (1, 2): 0.7}, {(0, 1, 2): 1.4})
    assert np.array_equal(np.array(result["h0"]), expected[0])
    assert result["h1"] == [[0.9, 1.4]]
    assert result["h0_graph_deaths"] == [float("inf"), 0.7, 0.5]
    assert result["h0_direct_deaths"] == [float("inf"), 0.7, 0.5]
    assert result["triangle_lifespans"] == [[0.9, 1.4]]
    assert result["w_inf"]["euclidean"] == pytest.approx(0.5 / np.sqrt(2))
    assert result["minima"]["names"] == ["s0", "s1", "s2"]
    assert result["profiles"]["s0-s1"] == {"t": [0.0, 0.5, 1.0], "train_loss": [0.1, 0.9, 0.2]}


def test_barcode_verb_rejects_a_curve_named_after_unknown_minima_in_one_line(tmp_path, capsys):
    write_json(tmp_path / "a.json", {"train_loss": 0.0})
    write_json(tmp_path / "a-b.json", {"max": 1.0})
    args = ["barcode", "--minima", str(tmp_path / "a.json"), "--curves", str(tmp_path / "a-b.json"),
            "--out", str(tmp_path / "o.json")]
    with pytest.raises(SystemExit) as exit:
        main(args)
    assert exit.value.code == 1
    assert capsys.readouterr().err == (f"lossbarcode barcode: {tmp_path / 'a-b.json'} must be named after 2 minima (a) "
                                       "joined by '-' (-v shows the traceback)\n")
    with pytest.raises(ValueError, match="must be named after 2 minima"):  # -v: the traceback
        main(["-v", *args])


def test_a_bad_file_or_spec_is_one_line_of_the_command_not_a_traceback(tmp_path):
    run = [str(Path(sys.executable).parent / "lossbarcode")]
    write_json(tmp_path / "minima/0.json", {"train_loss": "low"})
    bad_record = subprocess.run([*run, "barcode", "--minima", str(tmp_path / "minima/0.json"), "--out",
                                 str(tmp_path / "b.json")], capture_output=True, text=True)
    bad_spec = subprocess.run([*run, "train-minimum", "--spec", '{"experiment": "e"}', "--data", "d.pt", "--seed", "0",
                               "--out", str(tmp_path / "m")], capture_output=True, text=True)
    for result, message in ((bad_record, f"{tmp_path}/minima/0.json: its 'train_loss' is not a number: 'low'"),
                            (bad_spec, "run spec: missing key(s) run, dataset, model")):
        assert result.returncode == 1 and "Traceback" not in result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith("lossbarcode ") and message in line, line


def test_help_lists_the_registries_choices():
    from lossbarcode.datasets import DATASETS
    from lossbarcode.devices import JOBS_PER_GPU
    from lossbarcode.figures import KINDS as FIGURES
    from lossbarcode.tables import KINDS as TABLES
    from lossbarcode.toy import EXPERIMENTS

    run = [sys.executable, "-m", "lossbarcode.cli"]

    def help_of(verb: str) -> str:
        text = subprocess.run([*run, verb, "--help"], capture_output=True, text=True, check=True).stdout
        return " ".join(text.split())  # argparse wraps the lists

    for verb, names in (("prepare-data", DATASETS), ("figure", FIGURES), ("table", TABLES), ("toy", EXPERIMENTS),
                        ("train-minimum", map(str, JOBS_PER_GPU))):
        assert ", ".join(names) in help_of(verb), verb
    wrong = subprocess.run([*run, "prepare-data", "--dataset", "imagenet", "--root", "d"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "invalid choice: 'imagenet'" in wrong.stderr and "'digits'" in wrong.stderr


def test_json_keeps_infinities_and_refuses_nan(tmp_path):
    write_json(tmp_path / "x.json", {"bars": [[0.0, float("inf")]]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"bars": [[0.0, "inf"]]}
    assert read_json(tmp_path / "x.json") == {"bars": [[0.0, float("inf")]]}
    with pytest.raises(ValueError, match="NaN"):
        write_json(tmp_path / "y.json", {"loss": float("nan")})
    assert not (tmp_path / "y.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary file left behind


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    write_json(path, {"v": 1})
    monkeypatch.setattr("os.replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_json(path, {"v": 2})
    assert read_json(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_cli_starts_without_heavy_imports():
    code = ("import sys, lossbarcode.cli, lossbarcode.jobs, lossbarcode.models; "
            "print(sorted(m for m in ('torch', 'gudhi', 'numpy', 'matplotlib') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "lossbarcode.cli", "--help"], capture_output=True, text=True, check=True)
    assert "barcode" in out.stdout
