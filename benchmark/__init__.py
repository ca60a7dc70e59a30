"""clinmem: a benchmark for patient-level memorization in generative EHR models.

Importing the package is cheap: no model, cohort or torch is loaded until a
command needs it.
"""

__version__ = "0.1.0"
