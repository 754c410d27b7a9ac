"""The response case file: the example loads; every broken input is refused with the JSON
path and the fix in the message."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netdose.errors import InputError, NetdoseError
from netdose.response.assess import assess_case
from netdose.response.case import (
    is_nodal_organ,
    load_case,
    normalise_criteria,
    organ_key,
    parse_case,
)

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "response_case.json"


@pytest.fixture()
def example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_loads() -> None:
    case = load_case(EXAMPLE)
    assert case.patient.id == "NET-0042"
    assert [tp.label for tp in case.timepoints] == ["baseline", "fu1", "fu2"]
    assert case.baseline.date == dt.date(2025, 1, 10)
    assert case.baseline.targets is None
    assert case.criteria == ("RECIST1.1", "Choi", "iRECIST", "PERCIST")
    assert len(case.previous_treatments) == 2
    # Follow-up lesions inherit the baseline organ and location.
    fu_n1 = case.timepoints[1].lesion("N1")
    assert fu_n1 is not None and fu_n1.organ == "lymph_node" and fu_n1.nodal
    assert fu_n1.size_mm == 12 and fu_n1.location == "portocaval"
    assert case.timepoints[2].pet is not None and case.timepoints[2].pet.liver_sul_mean == 1.85


def test_organ_keys() -> None:
    assert organ_key(" Lymph node ") == "lymph_node"
    assert organ_key("lymph-node-mediastinal") == "lymph_node"
    assert organ_key("Liver") == "liver"
    assert is_nodal_organ("LN") and not is_nodal_organ("lung") and not is_nodal_organ(None)


def test_criteria_spellings() -> None:
    assert normalise_criteria(["recist 1.1", "CHOI", "irecist", "PERCIST 1.0"]) == (
        "RECIST1.1", "Choi", "iRECIST", "PERCIST")
    with pytest.raises(InputError, match=r"criteria\[0\] = 'WHO'"):
        normalise_criteria(["WHO"])
    with pytest.raises(InputError, match="listed twice"):
        normalise_criteria(["RECIST1.1", "recist"])


def _walk(data: dict[str, Any], path: str) -> tuple[Any, Any]:
    """(container, key) of a dotted path with [i] indices, e.g. ``timepoints[1].date``."""
    keys: list[Any] = []
    for part in path.split("."):
        name, *indices = part.replace("]", "").split("[")
        keys += ([name] if name else []) + [int(i) for i in indices]
    node: Any = data
    for k in keys[:-1]:
        node = node[k]
    return node, keys[-1]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        node, key = _walk(data, path)
        node[key] = value
    return apply


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        node, key = _walk(data, path)
        del node[key]
    return apply


def _rename(path: str, new: str) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        node, key = _walk(data, path)
        node[new] = node.pop(key)
    return apply


BAD_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("negative diameter", _set("timepoints[2].lesions[0].longest_diameter_mm", -3),
     r"timepoints\[2\]\.lesions\[0\]\.longest_diameter_mm = -3 mm: it cannot be below 0"),
    ("diameter as text", _set("timepoints[1].lesions[1].longest_diameter_mm", "20 mm"),
     r"timepoints\[1\]\.lesions\[1\]\.longest_diameter_mm = '20 mm' is not a number"),
    ("misspelt key", _rename("timepoints[1].lesions[0].longest_diameter_mm", "longest_diamter_mm"),
     (r"timepoints\[1\]\.lesions\[0\]\.longest_diamter_mm: unknown field\. Did you mean "
     r"'longest_diameter_mm'")),
    ("not an ISO date", _set("timepoints[1].date", "10/04/2025"),
     r"timepoints\[1\]\.date = '10/04/2025' is not an ISO date; give it as YYYY-MM-DD"),
    ("impossible date", _set("timepoints[1].date", "2025-02-30"),
     r"timepoints\[1\]\.date = '2025-02-30' is not a valid date"),
    ("not chronological", _set("timepoints[2].date", "2025-03-01"),
     r"timepoints\[2\]\.date: 2025-03-01 is not after timepoints\[1\]\.date 2025-04-10"),
    ("same label twice", _set("timepoints[2].label", "fu1"),
     r"timepoints\[2\]\.label: 'fu1' is already the label of timepoints\[1\]"),
    ("no modality", _set("timepoints[1].modality", ""),
     r"timepoints\[1\]\.modality = '': give the imaging modality"),
    ("lesion not at baseline", _set("timepoints[1].lesions[0].id", "L9"),
     r"timepoints\[1\]\.lesions\[0\]\.id: 'L9' is not a baseline lesion.*new_lesions"),
    ("organ differs from baseline", _set("timepoints[1].lesions[0].organ", "lung"),
     r"timepoints\[1\]\.lesions\[0\]\.organ: 'lung' differs from the baseline organ 'liver'"),
    ("non-target status spelling", _set("timepoints[1].non_target_status", "SD"),
     r"timepoints\[1\]\.non_target_status = 'SD': give one of 'CR', 'non-CR/non-PD', 'PD'"),
    ("non-target status at baseline", _set("timepoints[0].non_target_status", "CR"),
     r"timepoints\[0\]\.non_target_status: the baseline has no non-target response"),
    ("new lesion without unequivocal",
     _set("timepoints[2].new_lesions", [{"id": "X1", "organ": "liver",
                                         "longest_diameter_mm": 12}]),
     r"timepoints\[2\]\.new_lesions\[0\]\.unequivocal: missing; give true or false"),
    ("new lesion at baseline",
     _set("timepoints[0].new_lesions", [{"id": "X1", "organ": "liver", "unequivocal": True}]),
     r"timepoints\[0\]\.new_lesions\[0\]: no lesion is new at baseline"),
    ("new lesion reusing a baseline id",
     _set("timepoints[2].new_lesions", [{"id": "L3", "organ": "liver", "unequivocal": True}]),
     r"timepoints\[2\]\.new_lesions\[0\]\.id: 'L3' is a baseline lesion id"),
    ("new baseline lesions without modality change",
     _set("timepoints[2].new_baseline_lesions", ["X1"]),
     r"timepoints\[2\]\.new_baseline_lesions: .*modality_change\": true"),
    ("node without short axis", _set("timepoints[0].lesions[4].short_axis_mm", None),
     (r"timepoints\[0\]\.lesions\[4\]\.short_axis_mm: missing \(lymph node: RECIST 1\.1 measures "
     r"nodes by their short axis\)")),
    ("short axis longer than long axis", _set("timepoints[1].lesions[4].short_axis_mm", 25),
     r"timepoints\[1\]\.lesions\[4\]\.short_axis_mm = 25 mm is longer than longest_diameter_mm"),
    ("zero at baseline", _set("timepoints[0].lesions[0].longest_diameter_mm", 0),
     r"timepoints\[0\]\.lesions\[0\]\.longest_diameter_mm = 0 mm at baseline"),
    ("HU out of range", _set("timepoints[1].lesions[0].mean_hu", 5000),
     r"timepoints\[1\]\.lesions\[0\]\.mean_hu = 5000 HU: it cannot be above 3071 HU"),
    ("not evaluated but measured", _set("timepoints[1].lesions[0].evaluated", False),
     r"timepoints\[1\]\.lesions\[0\]\.evaluated: is false but measurements are given"),
    ("measurable flag at follow-up", _set("timepoints[1].lesions[0].measurable", True),
     r"timepoints\[1\]\.lesions\[0\]\.measurable: measurability is decided at baseline"),
    ("targets at follow-up", _set("timepoints[1].targets", ["L1"]),
     r"timepoints\[1\]\.targets: targets are chosen once, at baseline"),
    ("unknown target id", _set("timepoints[0].targets", ["L1", "Q7"]),
     r"timepoints\[0\]\.targets\[1\]: 'Q7' is not one of this time point's lesions"),
    ("given target missing at follow-up",
     lambda d: (_set("timepoints[0].targets", ["L1", "L2"])(d),
                _delete("timepoints[2].lesions[1]")(d)),
     (r"timepoints\[2\]\.lesions: target lesion 'L2' is missing at time point 'fu2'. Give its "
     r"longest_diameter_mm \(0 if it disappeared\)")),
    ("PET lesion missing at follow-up", _delete("timepoints[1].pet.lesions[0]"),
     r"timepoints\[1\]\.pet\.lesions: baseline PET lesion 'L1' is missing at 'fu1'"),
    ("PET lesion not at baseline", _set("timepoints[1].pet.lesions[0].id", "Z1"),
     r"timepoints\[1\]\.pet\.lesions\[0\]\.id: 'Z1' is not a baseline PET lesion"),
    ("SULpeak missing", _set("timepoints[1].pet.lesions[0].sul_peak", None),
     r"timepoints\[1\]\.pet\.lesions\[0\]\.sul_peak: missing; give it as a number in SUL"),
    ("liver SD without mean", _set("timepoints[1].pet.liver_sul_mean", None),
     r"timepoints\[1\]\.pet\.liver_sul_sd: is given without liver_sul_mean"),
    ("PET new lesion without typical flag",
     _set("timepoints[1].pet.new_lesions", [{"id": "P9", "sul_peak": 4.0}]),
     r"timepoints\[1\]\.pet\.new_lesions\[0\]\.typical_of_tumour: missing"),
    ("height in metres", _set("patient.height_cm", 1.64),
     r"patient\.height_cm = 1\.64 cm: it cannot be below 30 cm\. Give the height in cm"),
    ("patient id missing", _set("patient.id", ""), r"patient\.id = '': give the patient id"),
    ("sex", _set("patient.sex", "female"), r"patient\.sex = 'female': give one of F, M, O"),
    ("unknown criterion", _set("criteria", ["RECIST1.1", "WHO"]),
     r"criteria\[1\] = 'WHO' is not a criterion"),
    ("timepoints empty", _set("timepoints", []), r"timepoints: is empty"),
    ("treatment end before start", _set("previous_treatments[1].end_date", "2020-01-01"),
     r"previous_treatments\[1\]\.end_date: 2020-01-01 is before start_date"),
    ("unknown top-level key", _set("patients", {}), (r"patients: unknown field\. Did you mean "
                                                    r"'patient'")),
]


@pytest.mark.parametrize(("mutate", "message"), [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_bad_case_is_refused(example: dict[str, Any], mutate: Callable[[dict[str, Any]], None],
                             message: str) -> None:
    data = copy.deepcopy(example)
    mutate(data)
    with pytest.raises(InputError, match=message):
        parse_case(data, source="case.json")


def test_messages_name_the_file(example: dict[str, Any]) -> None:
    _set("timepoints[1].lesions[0].longest_diameter_mm", -1)(example)
    with pytest.raises(InputError, match=r"^case\.json: timepoints\[1\]"):
        parse_case(example, source="case.json")


def test_automatic_target_missing_at_follow_up(example: dict[str, Any]) -> None:
    # With targets null the check runs once the targets are selected (P1 is a target).
    _delete("timepoints[2].lesions[3]")(example)
    case = parse_case(example, source="case.json")
    with pytest.raises(InputError, match=r"timepoints\[2\]\.lesions: target lesion 'P1' is "
                                         r"missing at time point 'fu2'"):
        assess_case(case)


def test_non_target_may_be_left_out_at_follow_up(example: dict[str, Any]) -> None:
    _delete("timepoints[1].lesions[2]")(example)  # L3, a non-target
    result = assess_case(parse_case(example))
    assert result["timepoints"][1]["RECIST1.1"]["category"] == "PR"


def test_target_not_evaluated_is_accepted(example: dict[str, Any]) -> None:
    example["timepoints"][1]["lesions"][1] = {"id": "L2", "evaluated": False}
    case = parse_case(example)
    assert case.timepoints[1].lesion("L2").size_mm is None  # type: ignore[union-attr]


def test_new_baseline_lesion_may_be_listed_later(example: dict[str, Any]) -> None:
    tp1 = example["timepoints"][1]
    tp1["modality_change"] = True
    tp1["new_lesions"] = [{"id": "H1", "organ": "liver", "longest_diameter_mm": 8,
                           "unequivocal": True}]
    tp1["new_baseline_lesions"] = ["H1"]
    example["timepoints"][2]["lesions"].append({"id": "H1", "longest_diameter_mm": 9})
    case = parse_case(example)
    assert case.new_baseline_ids_before(2) == frozenset({"H1"})
    assert case.timepoints[2].lesion("H1").organ == "liver"  # type: ignore[union-attr]


@pytest.mark.parametrize(("content", "message"), [
    (None, r"does not exist"),
    ("{not json", r"is not valid JSON: .* at line 1, column 2"),
    ("[1, 2]", r"expected a JSON object"),
])
def test_load_case_file_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "case.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(NetdoseError, match=message):
        load_case(path)


def test_load_case_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        load_case(tmp_path)
