"""``python -m services.admin.authplane``: the same CLI as the ``authplane`` console script."""

from services.admin.authplane import main

main()
