"""``python -m analysis``: the command line. See :mod:`analysis.cli`."""

import sys

from analysis.cli import main

sys.exit(main())
