from types import ModuleType

import m365_toolkit


def test_all_lists_exactly_the_public_names_in_sorted_order():
    public = {
        name
        for name, value in vars(m365_toolkit).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(m365_toolkit.__all__) == public | {"__version__"}
    assert m365_toolkit.__all__ == sorted(m365_toolkit.__all__)


def test_importing_the_package_does_not_need_the_costs_extra():
    import subprocess
    import sys

    code = "import sys; import m365_toolkit, m365_toolkit.cli; print('genai_prices' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
