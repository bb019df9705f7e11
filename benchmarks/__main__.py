"""`python -m benchmarks`: see benchmarks/suite.py."""

import signal
import sys

from benchmarks.suite import main

# SIGTERM (a CI timeout, `kill PID`) unwinds like Ctrl-C, so every cluster the suite started is stopped by PID
# on the way out instead of being left running.
signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
raise SystemExit(main())
