"""Proofs: JSON certificates of a certification and their independent checker."""
