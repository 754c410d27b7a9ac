"""Response assessment: SUV/SUL from DICOM PET, lesion metrics, PERCIST / RECIST 1.1 /
Choi / iRECIST and the imaging case-report form.

See docs/physics.md for every model, constant and source.
"""

from netdose.response.assess import assess_case
from netdose.response.case import load_case
from netdose.response.lesions import measure_lesions
from netdose.response.suv import SuvResult, suv_from_dicom

__all__ = ["SuvResult", "assess_case", "load_case", "measure_lesions", "suv_from_dicom"]
