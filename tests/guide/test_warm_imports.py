"""guide.run.warm_imports: the heavy third-party modules the steps use are imported in a background
thread once a run is opened, so a notebook's cells do not wait for them (benchmarks/bench_guide.py)."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import sys
from ambient_lb.guide import run
before = {m for m in run.WARM_MODULES if m in sys.modules}
run.warm_imports()
first = run._warming
run.warm_imports()  # a second open_run in the same kernel starts no second thread
assert run._warming is first and first.daemon
first.join(120)
print(sorted(before), all(m in sys.modules for m in run.WARM_MODULES))
"""


def test_opening_a_run_imports_the_heavy_modules_in_one_background_thread():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] True"  # none loaded by `import guide`; all loaded by the thread
