"""Page parsing and reconciliation with /meta: pure functions, inline awkward inputs."""

from __future__ import annotations

import pytest

from bronze.verify import Tally, parse_meta, parse_page, reconcile


def test_parse_page_accepts_an_array_of_objects_only():
    assert parse_page(b"[]") == []
    body = '[{"id":"a","name":"Brauerei Müller","longitude":"8.5"},{"id":"b","city":null}]'
    assert [r["id"] for r in parse_page(body.encode())] == ["a", "b"]
    with pytest.raises(ValueError, match="not JSON"):
        parse_page(b"<html>502</html>")
    with pytest.raises(ValueError, match="not JSON"):
        parse_page(b'[{"id": "a"')  # truncated
    with pytest.raises(ValueError, match="expected an array"):
        parse_page(b'{"message": "Server Error"}')
    with pytest.raises(ValueError, match="element 1"):
        parse_page(b'[{"id": "a"}, null]')
    with pytest.raises(ValueError, match="not JSON"):
        parse_page(b"\xff\xfe[]")


def test_parse_meta_takes_numeric_strings():
    assert parse_meta(b'{"total": "8403", "page": "1"}')["total"] == 8403
    with pytest.raises(ValueError, match="total"):
        parse_meta(b'{"count": 3}')
    with pytest.raises(ValueError, match="not a number"):
        parse_meta(b'{"total": "many"}')


def records():
    return [
        {"id": "1", "brewery_type": "micro", "country": "United States"},
        {"id": "2", "brewery_type": "micro", "country": " United States"},
        {"id": "3", "brewery_type": "closed", "country": None},
        {"id": None, "brewery_type": "nano", "country": "Belgium"},
    ]


def test_tally_counts_duplicates_once_per_repeat():
    tally = Tally()
    tally.add(records())
    tally.add([{"id": "2", "brewery_type": "micro", "country": "United States"}])
    assert tally.records == 5
    assert tally.unique == 4  # three ids + one record without an id
    assert tally.duplicate_ids == ["2"] and tally.duplicates == 1
    assert tally.without_id == 1
    assert tally.by_type == {"micro": 2, "closed": 1, "nano": 1}
    assert tally.by_country == {"united states": 2, "": 1, "belgium": 1}


def meta(total, by_type, by_country):
    return {"total": total, "by_type": by_type, "by_country": by_country}


def test_reconcile_agrees_when_counts_match_modulo_whitespace_and_case():
    tally = Tally()
    tally.add(records())
    ok = meta(
        4,
        {"micro": 2, "closed": 1, "nano": 1},
        {"United States": 1, " United States": 1, "Belgium": 1, "": 1},
    )
    assert reconcile(tally, ok, 0.0) == []


def test_reconcile_names_both_numbers():
    tally = Tally()
    tally.add(records())
    problems = reconcile(tally, meta(6, {"micro": 2, "closed": 2, "nano": 1}, {}), 0.0)
    assert problems[0] == "fetched 4 distinct breweries but /meta total is 6 (tolerance 0.00%)"
    assert "by_type[closed]: fetched 1 but /meta says 2" in problems
    assert not any(p.startswith("by_type[micro]") for p in problems)
    assert reconcile(tally, {"total": 5}, 0.25) == []  # 1 of 5 is within 25 %
    assert reconcile(tally, {"total": 6}, 0.25) != []  # 2 of 6 is not
