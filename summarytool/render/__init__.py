"""Renderers turn a finished ModelStatistics into text; they never run the model."""
