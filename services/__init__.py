"""authplane's services: the regional login endpoint, the admin CLI, the dev launcher."""
