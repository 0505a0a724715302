"""Scoring against gold alignments (metrics, scoring: no torch), and sweeps, selection, analysis."""
