"""Calibration: measured load-test baselines in, consistency findings, a fitted model
and its fit and hold-out errors out."""
