"""The model config the variant and version tests extend (a binary model of one feature, its reference beside it)."""

BASE = """
name: car-loan
endpoint: car-loan-ep
problem_type: binary_classification
features:
  - {name: car_value, type: numeric}
output: {format: csv, columns: [y_pred_proba]}
reference: ref.parquet
"""
