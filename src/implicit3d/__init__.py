"""implicit3d: implicit 3D shape functions (occupancy, signed distance) and shape completion."""

import os as _os

# OpenMP threads (numba's parallel kernels, torch) sleep instead of spinning while they wait for work, unless the
# user chose otherwise. libgomp reads this once, when it is loaded (numba's first parallel kernel or ``import
# torch``), so it is set here, before either. Spinning threads take the cores from the threads that have work: on a
# busy 2-core machine (load average ~5) spinning made a 1M-point ``inside`` on a 327k-face mesh 2-3x slower than on
# one thread, and small torch steps 2-3x slower too; waking a sleeping thread costs microseconds per parallel region.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
