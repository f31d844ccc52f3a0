"""The local tier's copy-out (``local/store.py``): a hit hands out what unpickling the value would,
and nothing a caller does to it reaches the next hit."""

from __future__ import annotations

import collections
import datetime
import decimal
import pickle
from typing import Any

import pytest

from django_altcache.local.store import TREE_MAX_ITEMS, pack

NESTED = {"user": 42, "name": "n", "tags": ["a", "b"], "score": 3.5,
          "profile": {"langs": ["en", "fr"], "since": datetime.date(2020, 1, 2), "pair": (1, "x")},
          "rows": [[1, 2], {"k": [3]}], 7: None, ("t", 1): decimal.Decimal("1.5")}


def hit_with(packed: tuple[Any, Any, int] | None) -> Any:
    """What a local hit on ``packed`` hands out."""
    assert packed is not None
    payload, thaw, _ = packed
    return payload if thaw is None else thaw(payload)


def hit(value: Any) -> Any:
    return hit_with(pack(value))


def mutate_all(value: Any) -> None:
    """Change every container of a tree in place."""
    if type(value) is dict:
        for item in list(value.values()):
            mutate_all(item)
        value["added"] = True
    elif type(value) is list:
        for item in value:
            mutate_all(item)
        value.append("added")


def containers(value: Any) -> list[int]:
    if type(value) is dict:
        return [id(value), *(i for item in value.values() for i in containers(item))]
    if type(value) is list:
        return [id(value), *(i for item in value for i in containers(item))]
    return []


@pytest.mark.parametrize("value", [{"a": 1}, [1, "b"], {}, [], NESTED, [NESTED, {"x": [[[]]]}]],
                         ids=["flat-dict", "flat-list", "empty-dict", "empty-list", "nested", "deep"])
def test_trees_are_copied_not_unpickled(value: Any) -> None:
    packed = pack(value)
    assert packed is not None
    payload, thaw, _ = packed
    assert thaw is not pickle.loads
    assert payload == value and not set(containers(payload)) & set(containers(value))  # a private copy
    first = hit_with(packed)
    assert first == value == pickle.loads(pickle.dumps(value))
    assert not set(containers(first)) & set(containers(payload))
    mutate_all(first)
    assert hit_with(packed) == value  # the next hit is untouched
    mutate_all(value)
    assert hit_with(packed) != value  # and the caller's original was never kept


def test_what_pickle_would_answer_differently_stays_pickled() -> None:
    shared = [1, 2]
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    for value in ({"a": shared, "b": shared},  # pickle gives back one list twice
                  cyclic,
                  collections.OrderedDict(a=[1]),  # a subclass: its own copy and pickle rules
                  {"a": collections.defaultdict(list)},
                  {"a": ([1],)},  # a tuple holding a list
                  {frozenset({1}): [object]},  # a class object: left to pickle
                  list(range(TREE_MAX_ITEMS + 1))):  # big: pickle's C loop wins
        packed = pack(value)
        assert packed is not None
        assert packed[1] is pickle.loads, value
        got = hit(value)
        assert type(got) is type(value)
    got = hit({"a": shared, "b": shared})
    assert got["a"] is got["b"]  # pickle's sharing kept


def test_immutable_values_are_handed_out_as_they_are() -> None:
    for value in ("text", b"raw", 7, 2.5, None, (1, "a"), frozenset({1}), datetime.date(2020, 1, 1)):
        packed = pack(value)
        assert packed is not None and packed[1] is None and packed[0] is value


def test_unpicklable_values_are_not_kept() -> None:
    assert pack({"f": lambda: 1}) is None
    assert pack([open]) is not None  # a builtin pickles by reference


def test_the_size_counts_the_server_bytes_when_given() -> None:
    raw = pickle.dumps(NESTED)
    packed = pack(NESTED, raw)
    assert packed is not None and packed[2] == len(raw)
    alone = pack(NESTED)
    assert alone is not None and alone[2] > 100  # an estimate: containers, items and strings
