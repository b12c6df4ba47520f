"""The model registry: configs and reference data in the lake."""
