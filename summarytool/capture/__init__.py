"""How a model is observed: where each module sits, and hooks that record each call."""
