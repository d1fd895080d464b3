"""``python -m services.admin.authctl``: the same CLI as the ``authctl`` console script."""

from services.admin.authctl import main

main()
