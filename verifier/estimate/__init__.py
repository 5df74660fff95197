"""Estimates: sampling the accuracy (randomized estimates with standard errors)."""
