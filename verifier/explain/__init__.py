"""Explanations: region graph, exact symmetries, standardization and surprise accounting."""
