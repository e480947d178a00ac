"""Fusing one user face into one template face, in place, on the face's region only.

:func:`fuse_face` reads as its list of stages, one module each:

1. :mod:`~fusionkit.fusion.engine.geometry`: extend both meshes with the margin rings, align the user's to the
   template's with a similarity, and mix the two shapes into the target mesh (outline by the profile degree,
   features by the face degree, the outermost ring back on the template); reshape the template's head to it;
2. :mod:`~fusionkit.fusion.engine.occluders`: what covers the template's face stays in place, unwarped (and, later,
   on top); what covers the user's is left out of the mask;
3. :mod:`~fusionkit.fusion.engine.renderer`: a :class:`FaceRenderer` draws the user's face on the target mesh
   (:class:`MeshRenderer`, the C warp, by default);
4. :mod:`~fusionkit.fusion.engine.mask` (regions): the face's parts in the target geometry;
5. :mod:`~fusionkit.fusion.engine.colour`: the user's texture takes the template's colour region by region in Lab;
6. :mod:`~fusionkit.fusion.engine.texture`: user and template textures mixed by the face degree;
7. :mod:`~fusionkit.fusion.engine.mask`: the oval, kept to the triangles facing the camera in both faces, minus the
   occluders, eroded and feathered; then the optional smoothing and sharpening;
8. :mod:`~fusionkit.fusion.engine.blend`: multi-band, Poisson or alpha (one table); occluders laid back on top.
"""

from fusionkit.fusion.engine.pipeline import FaceFusionReport, fuse_face
from fusionkit.fusion.engine.renderer import FaceRenderer, MeshRenderer, RenderedFace, RenderRequest

__all__ = ["FaceFusionReport", "FaceRenderer", "MeshRenderer", "RenderRequest", "RenderedFace", "fuse_face"]
