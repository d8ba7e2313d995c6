"""Maps between two models' activation spaces: layer matching, linear fits, held-out quality.

from interp.align import fit_layer_maps, fit_report
maps = fit_layer_maps(src.activations, tgt.activations, source=src_model, target=tgt_model,
                      fit="unlock", rank=16)
target_directions = maps.apply(source_directions)
"""

from __future__ import annotations

from interp.align.fitters import FITTERS, fit_procrustes, fit_ridge, fit_unlock, get_fitter
from interp.align.layers import CkaLayerMap, cka_layer_map, depth_layer_map, linear_cka
from interp.align.linear_map import LinearMap
from interp.align.maps import LayerMaps, fit_layer_maps
from interp.align.quality import fit_report, mean_cosine, r2_score

__all__ = [
    "FITTERS",
    "CkaLayerMap",
    "LayerMaps",
    "LinearMap",
    "cka_layer_map",
    "depth_layer_map",
    "fit_layer_maps",
    "fit_procrustes",
    "fit_report",
    "fit_ridge",
    "fit_unlock",
    "get_fitter",
    "linear_cka",
    "mean_cosine",
    "r2_score",
]
