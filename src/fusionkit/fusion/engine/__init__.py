"""Fusing one user face into one template face, in place, on the face's region only.

:func:`fuse_face` reads as its list of stages, one module each:

1. :mod:`~fusionkit.fusion.engine.geometry`: extend both meshes with the margin rings, turn the user's mesh into
   the template's pose in 3D, give it the template's expression (mouth curve and opening, eyelids), and mix the two
   shapes into the target mesh (outline by the profile degree, features by the face degree, the outermost ring back
   on the template); reshape the template's head to it;
2. :mod:`~fusionkit.fusion.engine.preflight`: refuse a template face turned too far or mostly covered (and, in
   :func:`fusionkit.fuse`, a user face too small or too blurred), before anything is written;
3. :mod:`~fusionkit.fusion.engine.occluders`: what covers the template's face stays in place, unwarped (and, later,
   on top); what covers the user's is left out of the mask;
4. :mod:`~fusionkit.fusion.engine.renderer`: a :class:`FaceRenderer` draws the user's face on the target mesh
   (:class:`MeshRenderer`, the C warp with area-averaging and mirror fill, by default; a learned swapper plug-in
   from :mod:`fusionkit.fusion.renderers`), and an optional :class:`FaceEnhancer` restores what it drew;
5. :mod:`~fusionkit.fusion.engine.mask` (regions): the face's parts in the target geometry;
6. :mod:`~fusionkit.fusion.engine.colour`: the user's face takes the template's light and complexion (a ratio image
   in linear light, chroma turned about grey; the core's ``relight``);
7. :mod:`~fusionkit.fusion.engine.texture`: user and template textures mixed by the face degree, the template's
   mouth opening with its expression, the template's skin grain where the user photo is softer;
8. :mod:`~fusionkit.fusion.engine.mask`: the oval where the template's face is seen and the renderer drew, minus the
   occluders, eroded and feathered; then the optional smoothing and sharpening (texture);
9. :mod:`~fusionkit.fusion.engine.blend`: multi-band, Poisson or alpha (one table); occluders laid back on top.
"""

from fusionkit.fusion.engine.pipeline import FaceFusionReport, fuse_face
from fusionkit.fusion.engine.renderer import (
    FaceEnhancer,
    FaceRenderer,
    MeshRenderer,
    RenderedFace,
    RenderRequest,
    UserKey,
)

__all__ = ["FaceEnhancer", "FaceFusionReport", "FaceRenderer", "MeshRenderer", "RenderRequest", "RenderedFace",
           "UserKey", "fuse_face"]
