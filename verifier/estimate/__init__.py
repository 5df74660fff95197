"""Estimates: sampling the accuracy (randomized estimates with standard errors)."""

# The estimators' names, here so that the CLI's parser does not import them (scipy is slow to load).
METHODS = ("auto", "sampling", "branching", "stratified", "conditional", "circle", "moments")
