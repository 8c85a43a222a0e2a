"""Measuring recognition: identification and verification metrics, calibration, plots."""
