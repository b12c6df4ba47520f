"""Checks run by `make check` beside the tests: supply chain, build sizes, state machines, estimator image."""
