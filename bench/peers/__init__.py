"""`python -m bench peers`: authplane and Keycloak side by side, driven by one native load
generator (wrk) in the same run, with the ratio authplane/Keycloak for every figure."""
