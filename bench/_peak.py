"""Run a command and report its wall time and peak RSS: ``python bench/_peak.py CMD ...``.

Prints one JSON line on stdout: {"wall_s": ..., "peak_rss_mb": ..., "returncode": ...}.
"""

import json
import resource
import subprocess
import sys
import time

t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:])
wall = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(
    json.dumps(
        {
            "wall_s": round(wall, 2),
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "returncode": proc.returncode,
        }
    )
)
