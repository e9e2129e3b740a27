"""Query parameters that several resources share, declared once so they read the same in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

WAIT_DESCRIPTION = (
    "Long-poll: answer as soon as the resource reaches a final state, or after this many seconds; "
    "longer waits are capped by the server's maximum (60 s by default)"
)
#: ``?wait=`` of the long-polling reads (a backtest, a bundle).
Wait = Annotated[float, Parameter(ge=0, description=WAIT_DESCRIPTION, required=False)]
#: ``?limit=`` of the listings.
Limit = Annotated[int, Parameter(ge=1, le=500, required=False)]
