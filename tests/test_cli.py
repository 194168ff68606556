import json
import subprocess
import sys

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


def test_barcode_verb_rejects_a_curve_named_after_unknown_minima(tmp_path):
    write_json(tmp_path / "a.json", {"train_loss": 0.0})
    write_json(tmp_path / "a-b.json", {"max": 1.0})
    with pytest.raises(ValueError, match="must be named after 2 minima"):
        main(["barcode", "--minima", str(tmp_path / "a.json"), "--curves", str(tmp_path / "a-b.json"), "--out", str(tmp_path / "o.json")])


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
