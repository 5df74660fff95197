"""Presentation: proof reports, figures, and the check of the post's claims."""
