"""The string a defect is on, in its evidence frame: what a review export labels beside the finding."""

from gridscout.edge.reports.parent import parent_box

STRINGS = [((100.0, 50.0, 400.0, 120.0), "insulator"), ((120.0, 60.0, 250.0, 110.0), "insulator"),
           ((0.0, 0.0, 640.0, 480.0), "tower_part")]  # fmt: skip


def test_the_smallest_string_holding_the_defects_centre():
    assert parent_box((150.0, 70.0, 170.0, 90.0), "missing_cap", STRINGS) == (120.0, 60.0, 250.0, 110.0)
    assert parent_box((300.0, 70.0, 320.0, 90.0), "broken_disc", STRINGS) == (100.0, 50.0, 400.0, 120.0)


def test_none_when_no_string_holds_it_or_the_class_sits_on_nothing():
    assert parent_box((500.0, 300.0, 520.0, 320.0), "flashover", STRINGS) is None
    assert parent_box((150.0, 70.0, 170.0, 90.0), "insulator", STRINGS) is None  # a string is on no string
    assert parent_box((150.0, 70.0, 170.0, 90.0), "unknown_class", STRINGS) is None
