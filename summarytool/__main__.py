import sys

from summarytool.cli import main

sys.exit(main())
