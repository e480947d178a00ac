"""The studio: the stateful SDK (activities, materials, fusion into materials, stored results, request log,
retention, erasure, consent) over one storage root. Open one with :func:`fusionkit.open`.

This is the only package that composes :mod:`fusionkit.fusion` with :mod:`fusionkit.storage`; the fusion
pipeline and the face models are imported on the first upload or fusion, not when a studio is opened.
"""

from fusionkit.studio.activities import Activities
from fusionkit.studio.context import (
    AgeAttestation,
    AllOf,
    Capacity,
    ConsentPolicy,
    ConsentRequest,
    ConsentToken,
    RequestContext,
)
from fusionkit.studio.logs import LOGGER_NAME, RequestLog
from fusionkit.studio.materials import MaterialPage, Materials
from fusionkit.studio.results import Results
from fusionkit.studio.studio import Studio, open
from fusionkit.studio.videos import Videos

__all__ = [
    "LOGGER_NAME",
    "Activities",
    "AgeAttestation",
    "AllOf",
    "Capacity",
    "ConsentPolicy",
    "ConsentRequest",
    "ConsentToken",
    "MaterialPage",
    "Materials",
    "RequestContext",
    "RequestLog",
    "Results",
    "Studio",
    "Videos",
    "open",
]
