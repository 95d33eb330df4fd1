#!/usr/bin/env python3
"""Keeps the tree the shape the README's architecture section describes.

1. Dependencies between the stages of `sensor/src` point one way: each top-level module
   may name (`crate::X`, outside comments) only the modules its row in MAY_USE lists, so
   no import cycle can come back. A new top-level module must be given a row.
2. Every end-to-end test in the top-level `tests/` folder is declared as a `[[test]]` in
   `sensor/Cargo.toml`; an undeclared one would silently never run.

Exit 1 with one line per violation; run by scripts/test.sh before the build.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "sensor" / "src"

# Lowest first. Each stage may use the ones it names, nothing else of ours.
MAY_USE = {
    "error": set(),
    "files": set(),
    "decode": set(),
    "names": {"files"},
    "defrag": {"decode"},
    "flow": {"decode"},
    "proto": {"decode", "flow"},
    "rules": {"proto", "files"},
    "verdict": {"decode"},
    "events": {"decode", "files"},
    "baseline": {"decode", "events", "rules", "files"},
    "detect": {"decode", "defrag", "flow", "proto", "rules", "names", "verdict", "events", "baseline", "error"},
    "config": {"detect", "defrag", "flow", "proto", "verdict", "baseline", "names", "rules", "error", "files"},
    "datapath": {"config", "verdict", "decode", "detect", "baseline", "events", "error"},
    "control": {"config", "detect", "baseline", "error"},
    "app": set(),  # everything: filled in below
}
MAY_USE["app"] = set(MAY_USE) - {"app"}

USE = re.compile(r"\bcrate::([a-z_]+)")


def module_of(path: pathlib.Path) -> str | None:
    rel = path.relative_to(SRC)
    if len(rel.parts) == 1:
        return None if rel.stem in ("lib", "main") else rel.stem
    return rel.parts[0]


def code_lines(text: str):
    for number, line in enumerate(text.splitlines(), 1):
        yield number, line.split("//", 1)[0]


def check_layers() -> list[str]:
    problems = []
    for path in sorted(SRC.rglob("*.rs")):
        module = module_of(path)
        if module is None:
            continue
        if module not in MAY_USE:
            problems.append(f"{path.relative_to(ROOT)}: module `{module}` has no row in MAY_USE")
            continue
        for number, code in code_lines(path.read_text()):
            for used in USE.findall(code):
                if used != module and used not in MAY_USE[module]:
                    problems.append(
                        f"{path.relative_to(ROOT)}:{number}: `{module}` may not use `{used}`"
                        f" (it may use: {', '.join(sorted(MAY_USE[module])) or 'nothing of ours'})"
                    )
    return problems


def check_cycles() -> list[str]:
    """The table itself must be acyclic, or a cycle is allowed in."""
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> list[str]:
        if state.get(node) == "done":
            return []
        if state.get(node) == "active":
            return [" -> ".join(trail + [node])]
        state[node] = "active"
        found = []
        for dep in sorted(MAY_USE.get(node, ())):
            found += visit(dep, trail + [node])
        state[node] = "done"
        return found

    return [f"MAY_USE has a cycle: {c}" for m in MAY_USE for c in visit(m, [])]


def check_tests_declared() -> list[str]:
    manifest = (ROOT / "sensor" / "Cargo.toml").read_text()
    declared = set(re.findall(r'path\s*=\s*"\.\./tests/([^"]+\.rs)"', manifest))
    present = {p.name for p in (ROOT / "tests").glob("*.rs")}
    problems = [
        f"tests/{name} is not declared as a [[test]] in sensor/Cargo.toml, so it never runs"
        for name in sorted(present - declared)
    ]
    problems += [
        f"sensor/Cargo.toml declares tests/{name}, which does not exist"
        for name in sorted(declared - present)
    ]
    return problems


def main() -> int:
    problems = check_cycles() + check_layers() + check_tests_declared()
    for p in problems:
        print(f"check-layout: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
