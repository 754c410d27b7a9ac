"""PRRT (Lu-177 peptide receptor radionuclide therapy): cycle dosimetry, radiobiology,
next-cycle activity, eligibility and the therapy record.

See docs/physics.md for every model, constant and source.
"""
