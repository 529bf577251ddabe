"""What the contract test classes share: how a subclass names its component."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import torch

from flowbench.build import create
from flowbench.errors import UnknownNameError
from flowbench.plugins import registry

__all__ = ["ContractBase"]


class ContractBase:
    """Base of the contract suites. A subclass names its component by class, by registry name, or both.

    Class attributes (set them in a subclass, or use :meth:`configure`):
        kind: the registry kind (``"objective"``, ``"sampler"``, ...); fixed by each suite.
        component_class: the class under test. When ``component_name`` is set too, the registry
            entry must build an instance of it.
        component_name: the registry name under test; checks the entry point/registration.
        options: keyword options passed to the factory (kept tiny: these tests run on a CPU).
        num_threads: torch threads while a check runs (tiny tensors gain nothing from more, and
            lose a lot on a busy machine); the previous setting is restored afterwards.
    """

    kind: ClassVar[str] = ""
    component_class: ClassVar[type | None] = None
    component_name: ClassVar[str | None] = None
    options: ClassVar[dict[str, Any]] = {}
    num_threads: ClassVar[int | None] = 1
    _saved_threads: int | None = None

    def setup_method(self, method: Any = None) -> None:
        if self.num_threads is not None:
            self._saved_threads = torch.get_num_threads()
            torch.set_num_threads(self.num_threads)

    def teardown_method(self, method: Any = None) -> None:
        if self._saved_threads is not None:
            torch.set_num_threads(self._saved_threads)

    @classmethod
    def configure(cls, name: str | None = None, component_class: type | None = None, **attrs: Any) -> type:
        """A pytest-collectable subclass (``Test<Name>``) with these attributes.

        Example::

            TestMine = ObjectiveContract.configure("mine", options={"weighting": "velocity"})
        """
        label = name or (component_class.__name__ if component_class is not None else cls.__name__)
        title = "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", label) if part)
        attrs = {"component_name": name, "component_class": component_class, **attrs}
        return type(f"Test{title}{cls.__name__}", (cls,), attrs)

    def build(self, *args: Any, **overrides: Any) -> Any:
        """The component under test, built with ``options`` updated by ``overrides``."""
        options = {**self.options, **overrides}
        if self.component_class is not None:
            return self.component_class(*args, **options)
        if self.component_name is not None:
            return create(self.kind, self.component_name, *args, **options)
        raise TypeError(f"{type(self).__name__}: set component_class or component_name (or both)")

    def check_registered(self, *args: Any, **kwargs: Any) -> None:
        """``component_name`` resolves in the registry; with ``component_class``, to an instance of it."""
        if self.component_name is None:
            import pytest

            pytest.skip(f"{type(self).__name__} sets no component_name: registration not checked")
        try:
            entry = registry(self.kind).get(self.component_name)
        except UnknownNameError as exc:
            import pytest

            pytest.fail(
                f"{exc}. Is the package installed (pip install -e .) and does its pyproject.toml declare "
                f"the module with the hooks under [project.entry-points.flowbench]?",
                pytrace=False,
            )
        built = create(self.kind, self.component_name, *args, **{**self.options, **kwargs})
        if self.component_class is not None:
            assert isinstance(built, self.component_class), (
                f"{self.kind} {self.component_name!r} ({entry.origin()}) builds {type(built).__name__}, "
                f"not {self.component_class.__name__}"
            )
