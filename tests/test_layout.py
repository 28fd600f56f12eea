"""The tree draws the architecture: subpackages by concern, and the simulator never reaches for workers or pointers."""
import ast
import pathlib

import fedavg_helpers as fh

PACKAGE = pathlib.Path(fh.__file__).resolve().parent


def imported_modules(path: pathlib.Path, package: str) -> set[str]:
    """The fedavg_helpers modules a file imports, as dotted names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            found.add(".".join(base + ([node.module] if node.module else [])))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fedavg_helpers"):
            found.add(node.module)
    return found


def test_the_simulator_never_imports_workers_or_pointers():
    for path in (PACKAGE / "simulation").glob("*.py"):
        for module in imported_modules(path, "fedavg_helpers.simulation"):
            assert not module.startswith(("fedavg_helpers.core", "fedavg_helpers.federated")), f"{path.name}: {module}"


def test_the_core_does_not_import_the_simulator():
    for path in (PACKAGE / "core").glob("*.py"):
        for module in imported_modules(path, "fedavg_helpers.core"):
            assert not module.startswith("fedavg_helpers.simulation"), f"{path.name}: {module}"


def test_secure_aggregation_never_reaches_up_to_the_aggregation_rules_or_the_attacks():
    # distributed DP lives with the accountant in aggregation/; the protocol only calls it (SecAggConfig.dp)
    for path in (PACKAGE / "secure").glob("*.py"):
        for module in imported_modules(path, "fedavg_helpers.secure"):
            assert not module.startswith(("fedavg_helpers.aggregation", "fedavg_helpers.attacks")), path.name


def test_the_attacks_need_no_workers_or_pointers():
    for path in (PACKAGE / "attacks").glob("*.py"):
        for module in imported_modules(path, "fedavg_helpers.attacks"):
            assert not module.startswith(("fedavg_helpers.core", "fedavg_helpers.federated")), path.name


def test_every_subpackage_lists_its_public_names_and_fh_has_them_all():
    for sub in ("core", "simulation", "secure", "aggregation", "attacks"):
        init = (PACKAGE / sub / "__init__.py").read_text()
        names = [alias.asname or alias.name for node in ast.walk(ast.parse(init))
                 if isinstance(node, ast.ImportFrom) for alias in node.names]
        assert names and all(hasattr(fh, n) for n in names), sub
    assert {p.name for p in PACKAGE.glob("*.py")} <= {
        "__init__.py", "_checks.py", "federated.py"}
