"""Gaussian measure of polyhedral cones: certified enclosures where possible, labelled estimates elsewhere.

:mod:`~verifier.measure.solid_angle` measures one cone; :mod:`~verifier.measure.closed_form`
writes the n = 2 error rate as a formula. The names below are the measure API.
"""

from .solid_angle import ZERO, Measure, cone_measure, generators_measure, polyhedron_measure, sum_measures

__all__ = ["ZERO", "Measure", "cone_measure", "generators_measure", "polyhedron_measure", "sum_measures"]
