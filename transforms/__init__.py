"""Pipeline logic: pure functions and small classes, plus thin Beam wrappers."""
