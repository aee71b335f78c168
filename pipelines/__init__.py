"""Wiring only: validated config → Beam pipeline → dataset directory; and the CLI."""
