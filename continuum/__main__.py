import sys

from continuum.cli.entry import main

sys.exit(main())
