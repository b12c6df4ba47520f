"""The embedded local stack: moto wired from template.yaml, a simulated clock, in-process handlers."""
