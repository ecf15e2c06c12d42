"""Instruction-data benchmark harness."""
