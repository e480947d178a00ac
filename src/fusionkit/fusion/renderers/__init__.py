"""Face renderers and enhancers as plug-ins: the mesh renderer (the default), learned swappers and restorers the
user supplies (:class:`OnnxSwapper`, :class:`OnnxEnhancer`), and the name registry with its entry-point groups.
See ``docs/renderers.md``."""

from fusionkit.fusion.renderers.align import arcface_template, five_points
from fusionkit.fusion.renderers.enhancer import OnnxEnhancer
from fusionkit.fusion.renderers.registry import (
    ENHANCER_GROUP,
    MODEL_LICENCE_KEY,
    RENDERER_GROUP,
    available,
    enhancer_for,
    licence_text,
    licences,
    model_metadata,
    prepare,
    renderer_for,
)
from fusionkit.fusion.renderers.swapper import OnnxSwapper

__all__ = ["ENHANCER_GROUP", "MODEL_LICENCE_KEY", "RENDERER_GROUP", "OnnxEnhancer", "OnnxSwapper", "arcface_template",
           "available", "enhancer_for", "five_points", "licence_text", "licences", "model_metadata", "prepare",
           "renderer_for"]
