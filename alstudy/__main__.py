import sys

from alstudy.cli import main

sys.exit(main())
