"""recfactor: matrix-factorization recommenders from the command line."""

import os as _os

# numba's parallel kernels run on OpenMP (libgomp), whose idle threads spin by default: beside
# other busy processes each parallel region then fights them for the cores (NMF of the 6 x 4
# food matrix took 55 s instead of 1 s beside two busy processes; BENCHMARKS.md). Passive
# threads sleep while they wait, at no measurable cost on an idle machine. libgomp reads this
# once, when it loads, which numba does only at the first parallel kernel, after this import.
# A user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "passive")

__version__ = "0.1.0"
