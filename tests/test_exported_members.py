import m365_toolkit


def test_all_lists_exactly_the_public_names_in_sorted_order():
    public = {name for name in vars(m365_toolkit) if not name.startswith("_")}
    submodules = {
        "cli", "demo", "errors", "formatting", "manager", "query", "sessions", "store",
    }  # fmt: skip
    assert set(m365_toolkit.__all__) == (public - submodules) | {"__version__"}
    assert m365_toolkit.__all__ == sorted(m365_toolkit.__all__)
