"""Issue acceptance on the SIRT phantom: LSF and TNR recovered from the MAA image within 2 %
of the truth (noise-free), and the GI hot spot flagged only when planted."""

from __future__ import annotations

import numpy as np
import pytest
from netdose_phantoms.sirt_liver import composite_masks, sirt_liver

from netdose.errors import InputError
from netdose.sirt import check_extrahepatic, lsf_spect, tumour_to_normal_ratio


@pytest.mark.parametrize(("lsf_true", "tnr_true"), [(0.05, 2.0), (0.10, 3.0), (0.18, 5.0)])
def test_lsf_and_tnr_recovered_within_2_percent(lsf_true, tnr_true):
    ph = sirt_liver(lung_shunt_fraction=lsf_true, tumour_to_normal=tnr_true)
    groups = composite_masks(ph)
    res = lsf_spect(ph.activity, groups["liver"], groups["lungs"])
    assert res.lsf == pytest.approx(ph.truth["lung_shunt_fraction"], rel=0.02)
    tnr = tumour_to_normal_ratio(ph.activity, groups["tumours"], ph.mask("perfused_normal"))
    assert tnr == pytest.approx(ph.truth["tumour_to_normal"], rel=0.02)


@pytest.mark.parametrize("site", ["duodenum", None])
def test_planted_duodenal_hot_spot_blocks_and_none_without(site):
    ph = sirt_liver(gi_hot_spot=site)
    groups = composite_masks(ph)
    organs = {n: ph.mask(n) for n in ("stomach", "duodenum")}
    report = check_extrahepatic(ph.activity, groups["liver"], organs, injected_mbq=150.0)
    gi = [f for f in report.findings if f.location in organs]
    if site is None:
        assert gi == [] and not report.blocks
    else:
        assert report.blocks and any(f.location == "duodenum" and f.blocks for f in gi)


def test_tnr_needs_counts_in_normal_liver():
    ph = sirt_liver()
    empty = ph.labels.with_array(np.zeros(ph.labels.shape, dtype=bool))
    with pytest.raises(InputError, match="empty"):
        tumour_to_normal_ratio(ph.activity, empty, ph.mask("perfused_normal"))
