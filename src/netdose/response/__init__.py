"""Response assessment: SUV/SUL from DICOM PET, lesion metrics, PERCIST / RECIST 1.1 /
Choi / iRECIST and the imaging case-report form.

See docs/physics.md for every model, constant and source.
"""
