"""Model classes for the PyTorch flavor tests, importable as users' own modules are (so the
saved model refers to them by name)."""
