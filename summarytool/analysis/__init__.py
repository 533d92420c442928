"""Analyses over captured rows: parameters, mult-adds, the row hierarchy."""
