"""docs/plugins.md documents every hook of flowbench/hookspecs.py and every argument of each.

A hook is documented by a heading that shows its call (``### `register_objectives(register)` ``); each
of its arguments by a bullet naming it in backticks inside that heading's section. Adding a hook or
an argument to hookspecs.py without documenting it fails here.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from flowbench import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def hookspec_signatures() -> dict[str, list[str]]:
    """Every hook in hookspecs.py and its argument names."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in vars(hookspecs).items()
        if inspect.isfunction(fn) and hasattr(fn, marker)
    }


def doc_sections(text: str) -> dict[str, str]:
    """Heading line -> the text under it, up to the next heading of the same or a higher level."""
    lines = text.splitlines()
    heads = [(i, len(m.group(1))) for i, line in enumerate(lines) if (m := re.match(r"(#+) ", line))]
    sections = {}
    for n, (i, level) in enumerate(heads):
        end = next((j for j, lv in heads[n + 1 :] if lv <= level), len(lines))
        sections[lines[i]] = "\n".join(lines[i + 1 : end])
    return sections


def undocumented(text: str, hooks: dict[str, list[str]]) -> list[str]:
    sections = doc_sections(text)
    missing = []
    for hook, args in hooks.items():
        call = f"`{hook}({', '.join(args)})`"
        found = [body for head, body in sections.items() if call in head]
        if not found:
            missing.append(f"hook {hook}: no heading containing {call}")
            continue
        for arg in args:
            if not re.search(rf"^\s*[*-] `{re.escape(arg)}` ", found[0], flags=re.MULTILINE):
                missing.append(f"hook {hook}: argument {arg!r} has no '* `{arg}` ...' bullet")
    return missing


def test_every_hook_and_argument_is_documented():
    hooks = hookspec_signatures()
    assert len(hooks) >= 8, f"found only {sorted(hooks)} in hookspecs.py"
    missing = undocumented(DOC.read_text(encoding="utf-8"), hooks)
    assert not missing, "docs/plugins.md is missing:\n" + "\n".join(missing)


def test_the_check_catches_a_new_hook_and_a_new_argument():
    text = DOC.read_text(encoding="utf-8")
    hooks = hookspec_signatures()
    assert undocumented(text, {**hooks, "register_schedulers": ["register"]}) == [
        "hook register_schedulers: no heading containing `register_schedulers(register)`"
    ]
    changed = {**hooks, "register_objectives": ["register", "context"]}
    assert undocumented(text, changed) == [
        "hook register_objectives: no heading containing `register_objectives(register, context)`"
    ]
    # A heading that shows the argument but a section that does not describe it.
    doctored = text.replace("### `register_commands(cli)`", "### `register_commands(cli, app)`")
    assert undocumented(doctored, {**hooks, "register_commands": ["cli", "app"]}) == [
        "hook register_commands: argument 'app' has no '* `app` ...' bullet"
    ]


def test_every_kind_has_a_row_in_the_table():
    from flowbench.registry import KINDS

    text = DOC.read_text(encoding="utf-8")
    for kind in KINDS:
        assert f"| `{kind}` | `register_{kind}s` |" in text, f"kind {kind} missing from the table of kinds"


def test_the_path_objective_in_the_docs_runs_and_meets_the_contract():
    """The GaussianPathObjective example of docs/plugins.md is real code: it trains and samples."""
    from flowbench.testing import ObjectiveContract

    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    source = next(b for b in blocks if "(GaussianPathObjective):" in b)
    namespace: dict = {}
    exec(compile(source, "docs/plugins.md", "exec"), namespace)
    suite = ObjectiveContract.configure(component_class=namespace["VelocityFM"])()
    suite.setup_method()
    try:
        for check in ("test_loss_is_seeded", "test_overfits_one_batch", "test_finalize_round_trip"):
            getattr(suite, check)()
        suite.test_samples_valid_indices()
    finally:
        suite.teardown_method()
