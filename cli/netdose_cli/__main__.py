"""``python -m netdose_cli`` = ``netdose``."""

from netdose_cli.main import main

main()
