import sys

from brewlake.cli import main

sys.exit(main())
