"""Shared request parameter types.

Ids in paths are declared as ``{name:str}`` in the route and typed ``PathId`` in the handler, so
that a malformed id ("abc", "1.5", 0, -1) answers 422 VALIDATION_ERROR as API.md requires,
instead of a routing 404.
"""

from typing import Annotated

from litestar.params import Parameter

MAX_ID = 2**63 - 1

PathId = Annotated[int, Parameter(gt=0, le=MAX_ID)]
