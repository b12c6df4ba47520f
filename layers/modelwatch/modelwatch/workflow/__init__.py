"""Orchestration: which chunks a run covers, debounced triggers, run state, the state machines' small Lambdas."""
