"""Evaluation: the AlpacaEval protocol, judges, metrics, and data analysis."""
