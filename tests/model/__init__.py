"""Randomized model test of domain-wide consistency of mobility state.

One sequence = a random domain (``domains``) + random events drawn against the current state
(``generator``, ``events``) run on the in-memory tables (``world``: tests/fakeof.py's FakeNet, the
real controller, signalling faults through ``ctl.bus.faults``), with the invariants
(``invariants``) checked after every step in a copy of the world that is first let settle, and
once more at the end after every MN left.  ``runner`` runs one sequence, ``batch`` many (over
processes), ``shrink`` makes a failure minimal (delta debugging), ``report`` prints it, ``gaps``
lists what the controller is known to break and the CI run keeps clear of.

pytest runs it from tests/unit/test_model.py (CI: fixed seeds; ``--soak N``: fresh ones;
``--model-all``: known gaps too); by hand: ``cd tests && python -m model --help``.
"""
