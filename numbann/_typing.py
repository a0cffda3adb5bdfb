"""Type aliases for the annotations of numbann's public API."""
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]  # an array of any dtype
FloatArray = npt.NDArray[np.floating[Any]]
ArrayLike = npt.ArrayLike  # anything np.asarray takes
DTypeLike = npt.DTypeLike
