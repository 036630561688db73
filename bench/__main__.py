"""`python -m bench`: run the benchmark and print the table."""

import sys

from bench.run import main

sys.exit(main())
