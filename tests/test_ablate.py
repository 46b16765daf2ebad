"""The item-1 ablation table (models.ablate): its rows, and a clear line when there is nothing to show."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gridscout.models import ablate


def _result(what: str, scores: dict[str, float], seconds: int) -> dict:
    return {
        "what": what,
        "train_seconds": dict.fromkeys(scores, seconds),
        "loso_insulator_ap50": scores,
        "mean": round(sum(scores.values()) / len(scores), 3),
    }


def test_the_table_has_a_row_per_variant_and_a_column_per_held_out_source():
    results = {
        "v5nu-coco": _result("pretrained", {"cplid": 0.2, "idid": 0.5}, 600),
        "scratch": _result("random", {"cplid": 0.01, "idid": 0.1}, 300),
    }
    lines = ablate.table(results).splitlines()
    assert lines[0] == "| variant | without cplid | without idid | mean | train time |"
    assert lines[2] == "| v5nu-coco: pretrained | 0.200 | 0.500 | 0.350 | 20 min |"
    assert lines[3] == "| scratch: random | 0.010 | 0.100 | 0.055 | 10 min |"
    results["scratch"]["train_seconds"]["cplid"] = None  # a run whose time was not measured
    assert ablate.table(results).splitlines()[3].endswith("| 0.055 | 5 min + ? |")


def test_every_variant_differs_from_the_baseline_in_its_own_start_or_data():
    base = ablate.VARIANTS["v5nu-coco"]
    fields = [f.name for f in dataclasses.fields(ablate.Variant) if f.name != "what"]
    for name, variant in ablate.VARIANTS.items():
        changed = [f for f in fields if getattr(variant, f) != getattr(base, f)]
        assert name == "v5nu-coco" or changed, name
        assert len(changed) <= 2


def test_the_table_without_results_says_how_to_make_them(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ablate.main(["--table", "--results", str(tmp_path / "none.json")])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip().endswith("none.json: run without --table first")


def test_the_committed_results_print_as_the_model_card_table(capsys):
    if not ablate.RESULTS.is_file():
        pytest.skip("no ablation results committed yet")
    assert ablate.main(["--table"]) == 0
    printed = capsys.readouterr().out
    for name in json.loads(ablate.RESULTS.read_text()):
        assert f"| {name}: " in printed
