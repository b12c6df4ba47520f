"""Performance estimation with nannyml: CBPE, DLE, realized performance, fitted-estimator cache."""
