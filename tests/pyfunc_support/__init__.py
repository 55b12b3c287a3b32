"""Model classes and code files for the custom Python model tests (pickled by value, as a
user's script or notebook would be)."""
