import sys

from vt_tui.cli import main

sys.exit(main())
