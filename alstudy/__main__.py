"""`python -m alstudy ...`: the `alstudy` command."""

import sys

from alstudy.cli import main

sys.exit(main())
