"""Geometry: exact polyhedral cones, the decomposition of input space into linear pieces, and each piece's correct and error cones."""
